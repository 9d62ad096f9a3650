//! What the boot records in `/run/flashroot/containers` for the shutdown program (and
//! `flashroot status`): the lines' format is [`flashroot_runtime::containers_file`].

use std::io::Write;

use flashroot_runtime::containers_file::{
    card_line, container_line, parse, ContainerRecord, DIR, PATH,
};

use crate::error::BootError;

/// Records a container the boot set up (called once it is an MTD device).
pub fn container(
    file_on_card: &str,
    device: &str,
    label: &str,
    agent_pid: Option<u32>,
) -> Result<(), BootError> {
    append(&container_line(&ContainerRecord {
        file: file_on_card.into(),
        device: device.into(),
        label: label.into(),
        agent_pid,
    }))
}

/// The block device of the container labelled `label`, from this boot's record; errors
/// name `step`.
pub fn container_device(label: &str, step: &str) -> Result<String, BootError> {
    let text = std::fs::read_to_string(PATH).map_err(|e| BootError::io(step, PATH, &e))?;
    let record = parse(&text).map_err(|e| BootError::new(step, PATH, e.to_string()))?;
    record
        .containers
        .into_iter()
        .find(|c| c.label == label)
        .map(|c| c.device)
        .ok_or_else(|| BootError::new(step, PATH, format!("no container labelled {label}")))
}

/// Records where the card stays in the real root (`None`: detached lazily).
pub fn card(path_in_root: Option<&str>) -> Result<(), BootError> {
    append(&card_line(path_in_root))
}

fn append(line: &str) -> Result<(), BootError> {
    let step = "record for shutdown";
    std::fs::create_dir_all(DIR).map_err(|e| BootError::io(step, DIR, &e))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(PATH)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| BootError::io(step, PATH, &e))
}
