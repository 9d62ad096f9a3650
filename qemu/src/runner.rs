//! Runs `qemu-system-x86_64` (TCG, no KVM) and watches the serial console until the guest ends.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::host::{describe, QEMU_X86_64};
use crate::options::{BootOptions, Cut, DiskInterface};
use crate::outcome::{self, Ending, Outcome};
use crate::{output_disk, Error};

/// How often the console is checked for an ending while QEMU runs.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Name of the console capture in the run directory.
const CONSOLE_LOG: &str = "console.log";
/// Name of the output disk in the run directory.
const OUTPUT_DISK: &str = "output.img";
/// Console reads happen in chunks of this size.
const READ_CHUNK: usize = 4096;
/// The PCI bus of QEMU's `pc` machine, the parent of the controllers we add.
const PC_PCI_BUS: &str = "pci.0";

/// Boots once and returns how it ended. Each call works in its own temporary directory, so
/// parallel tests do not collide. `Err` only for harness problems (QEMU missing, files
/// unreadable); a guest that panics or hangs is an `Ok` outcome.
pub fn boot(options: &BootOptions) -> Result<Outcome, Error> {
    let run_dir = tempfile::Builder::new()
        .prefix("flashroot-qemu-")
        .tempdir()
        .map_err(|e| Error::io("create run directory in", std::env::temp_dir(), e))?;
    boot_in(options, run_dir.path())
}

/// Like [`boot`], in a caller-chosen directory that is kept (console log, output disk).
pub fn boot_in(options: &BootOptions, run_dir: &Path) -> Result<Outcome, Error> {
    check_inputs(options)?;
    let output_path = run_dir.join(OUTPUT_DISK);
    if let Some(size) = options.output_disk {
        let file = File::create(&output_path).map_err(|e| Error::io("create", &output_path, e))?;
        file.set_len(size)
            .map_err(|e| Error::io("size", &output_path, e))?;
    }
    let mut command = qemu_command(options, options.output_disk.map(|_| output_path.as_path()));
    let command_text = describe(&command);
    let console_path = run_dir.join(CONSOLE_LOG);
    let console_file =
        File::create(&console_path).map_err(|e| Error::io("create", &console_path, e))?;

    let run = run_watched(
        &mut command,
        console_file,
        options.timeout,
        options.cut.as_ref(),
    )?;
    let Capture { bytes, lines } = run.console;
    let console = clean_console(&bytes);
    let ending = match (run.stop, outcome::classify(&console)) {
        // A cut is the harness's doing; whatever the console says came before it.
        (Stop::Cut(at), _) => Ending::Cut { at },
        (_, Some(ending)) => ending,
        (Stop::TimedOut, None) => Ending::TimedOut,
        (Stop::Exited(code), None) => Ending::QemuExited(code),
    };
    let output = match options.output_disk {
        Some(_) => read_output(&output_path)?,
        None => None,
    };
    let qemu_stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    Ok(Outcome {
        ending,
        console,
        lines: lines.complete,
        elapsed: run.elapsed,
        output,
        qemu_stderr,
        command: command_text,
    })
}

/// What [`run_watched`] saw of one QEMU run.
struct WatchedRun {
    stop: Stop,
    console: Capture,
    stderr: Vec<u8>,
    elapsed: Duration,
}

/// Starts `command` with its stdout as the console (also copied to `console_file`) and
/// watches it until it ends, times out or is cut (see [`watch`]).
fn run_watched(
    command: &mut Command,
    console_file: File,
    timeout: Duration,
    cut: Option<&Cut>,
) -> Result<WatchedRun, Error> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| QEMU_X86_64.spawn_error(command, e))?;
    let console = Arc::new(Mutex::new(Capture::default()));
    let console_reader = spawn_console_copier(
        child.stdout.take().expect("stdout is piped"),
        console_file,
        Arc::clone(&console),
        started,
    );
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let stderr_reader = spawn_copier(
        child.stderr.take().expect("stderr is piped"),
        Arc::clone(&stderr),
    );
    let stop = watch(&mut child, &console, started, timeout, cut)?;
    let elapsed = started.elapsed();
    // The pipes close when QEMU is gone; the readers then finish.
    let _ = console_reader.join();
    let _ = stderr_reader.join();
    let console = std::mem::take(&mut *console.lock().expect("console buffer"));
    let stderr = std::mem::take(&mut *stderr.lock().expect("stderr buffer"));
    Ok(WatchedRun {
        stop,
        console,
        stderr,
        elapsed,
    })
}

/// Fails early, naming the file, rather than letting QEMU print a terse error.
fn check_inputs(options: &BootOptions) -> Result<(), Error> {
    if options.kernel.is_none() && (options.initrd.is_some() || !options.cmdline.is_empty()) {
        return Err(Error::InvalidParameter {
            name: "initrd/cmdline",
            detail:
                "a firmware boot (kernel: None) takes them from the boot loader; leave them empty"
                    .into(),
        });
    }
    let files = options
        .kernel
        .iter()
        .chain(options.initrd.as_ref())
        .chain(options.disks.iter().map(|disk| &disk.path));
    for path in files {
        fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    }
    for disk in options
        .disks
        .iter()
        .filter(|d| d.interface == DiskInterface::Sd)
    {
        let bytes = fs::metadata(&disk.path)
            .map_err(|e| Error::io("read", &disk.path, e))?
            .len();
        check_sd_card(&disk.path, bytes, disk.read_only)?;
    }
    if let Some(cut) = &options.cut {
        check_cut(cut, options.timeout)?;
    }
    if options.memory_mib == 0 || options.cpus == 0 {
        return Err(Error::InvalidParameter {
            name: "memory_mib/cpus",
            detail: format!(
                "need at least 1 MiB and 1 CPU, got {} MiB and {} CPUs",
                options.memory_mib, options.cpus
            ),
        });
    }
    Ok(())
}

/// A cut that could never happen, or never where meant: an empty needle (every line
/// matches), a needle spanning lines (lines are matched one at a time), a fixed cut at or
/// after the timeout.
fn check_cut(cut: &Cut, timeout: Duration) -> Result<(), Error> {
    let detail = match &cut.after {
        Some(needle) if needle.is_empty() => {
            "the console needle is empty; use `after: None` to cut at a fixed time".to_string()
        }
        Some(needle) if needle.contains('\n') => {
            format!("the console needle {needle:?} spans lines; lines are matched one at a time")
        }
        None if cut.delay >= timeout => format!(
            "a cut {:.1} s after the start never comes: the timeout ({:.1} s) ends the boot first",
            cut.delay.as_secs_f64(),
            timeout.as_secs_f64()
        ),
        _ => return Ok(()),
    };
    Err(Error::InvalidParameter {
        name: "cut",
        detail,
    })
}

/// What QEMU 7.2's `sd-card` refuses, said before QEMU says it tersely: a size that is
/// not a power of two, and a read-only drive.
fn check_sd_card(path: &Path, bytes: u64, read_only: bool) -> Result<(), Error> {
    let detail = if !bytes.is_power_of_two() {
        let suggestion = bytes.checked_next_power_of_two().unwrap_or(u64::MAX);
        format!(
            "QEMU needs a size that is a power of two, but the image has {bytes} bytes \
             (extend it to {suggestion})"
        )
    } else if read_only {
        "QEMU cannot attach a read-only drive as an SD card".to_string()
    } else {
        return Ok(());
    };
    Err(Error::InvalidParameter {
        name: "disks",
        detail: format!("SD card {}: {detail}", path.display()),
    })
}

/// The QEMU invocation: `pc` machine, TCG, serial console on stdout. A direct kernel boot
/// drops every default device; a firmware boot uses `-nographic`, whose text console mirror
/// puts the BIOS's and boot loader's screen on the captured output too.
fn qemu_command(options: &BootOptions, output_disk: Option<&Path>) -> Command {
    let mut command = QEMU_X86_64.command();
    command
        .args(["-machine", "pc,accel=tcg", "-no-reboot"])
        .args(["-m", &options.memory_mib.to_string()])
        .args(["-smp", &options.cpus.to_string()]);
    match &options.kernel {
        Some(kernel) => {
            command
                .args(["-nodefaults", "-display", "none"])
                .args(["-serial", "stdio", "-monitor", "none"])
                .arg("-kernel")
                .arg(kernel)
                .args(["-append", &options.full_cmdline()]);
            if let Some(initrd) = &options.initrd {
                command.arg("-initrd").arg(initrd);
            }
        }
        None => {
            command.arg("-nographic");
        }
    }
    let disks: Vec<AttachedDisk> = options
        .disks
        .iter()
        .map(|d| AttachedDisk {
            path: d.path.as_path(),
            interface: d.interface,
            read_only: d.read_only,
        })
        .chain(output_disk.map(|path| AttachedDisk {
            path,
            interface: DiskInterface::Virtio,
            read_only: false,
        }))
        .collect();
    command.args(disk_args(&disks));
    command.args(&options.extra_qemu_args);
    command
}

/// One disk as QEMU gets it (the caller's disks and the output disk alike).
struct AttachedDisk<'a> {
    path: &'a Path,
    interface: DiskInterface,
    read_only: bool,
}

/// The `-device`/`-drive` arguments attaching `disks`: each shared controller once, first,
/// then every disk in order, as `disk<index>` (its index in `disks`).
fn disk_args(disks: &[AttachedDisk]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut controllers: Vec<&str> = Vec::new();
    for interface in DiskInterface::ALL {
        if let Some(controller) = interface.shared_controller() {
            // USB sticks and UAS disks share one xHCI controller.
            if disks.iter().any(|d| d.interface == interface) && !controllers.contains(&controller)
            {
                controllers.push(controller);
                args.extend(["-device".into(), controller.into()]);
            }
        }
    }
    // Per-interface positions: IDE index, AHCI port, SCSI target, UAS device, SD controller.
    let mut ide_index = 0;
    let mut ahci_port = 0;
    let mut scsi_id = 0;
    let mut uas_device = 0;
    let mut sd_slot = 0;
    for (index, disk) in disks.iter().enumerate() {
        let id = format!("disk{index}");
        let mut drive = format!("file={},format=raw,id={id}", qemu_escape(disk.path));
        if disk.read_only {
            drive.push_str(",readonly=on");
        }
        // Virtio and IDE drives bring their device (`if=`); the others are plugged into
        // a controller by `-device`.
        let mut devices: Vec<String> = Vec::new();
        match disk.interface {
            DiskInterface::Virtio => drive.push_str(",if=virtio"),
            DiskInterface::Ide => {
                drive.push_str(&format!(",if=ide,index={ide_index}"));
                ide_index += 1;
            }
            DiskInterface::Ahci => {
                devices.push(format!("ide-hd,drive={id},bus=ahci.{ahci_port}"));
                ahci_port += 1;
            }
            DiskInterface::Usb => devices.push(format!("usb-storage,drive={id},bus=xhci.0")),
            DiskInterface::UsbEhci => devices.push(format!("usb-storage,drive={id},bus=ehci.0")),
            DiskInterface::UsbUhci => devices.push(format!("usb-storage,drive={id},bus=uhci.0")),
            DiskInterface::UsbOhci => devices.push(format!("usb-storage,drive={id},bus=ohci.0")),
            DiskInterface::UsbUas => {
                // One UAS device per disk, each a SCSI bus with the disk as target 0.
                let uas = format!("uas{uas_device}");
                devices.push(format!("usb-uas,id={uas},bus=xhci.0"));
                devices.push(format!(
                    "scsi-hd,drive={id},bus={uas}.0,channel=0,scsi-id=0,lun=0"
                ));
                uas_device += 1;
            }
            DiskInterface::VirtioScsi => {
                devices.push(format!(
                    "scsi-hd,drive={id},bus=scsi.0,channel=0,scsi-id={scsi_id},lun=0"
                ));
                scsi_id += 1;
            }
            DiskInterface::Sd => {
                // One card per SDHCI slot. Every controller's bus is called "sd-bus", so
                // the card names it by path through its own controller.
                let controller = format!("sdhci{sd_slot}");
                devices.push(format!("sdhci-pci,id={controller}"));
                devices.push(format!(
                    "sd-card,drive={id},bus={PC_PCI_BUS}/{controller}/sd-bus"
                ));
                sd_slot += 1;
            }
        }
        if !devices.is_empty() {
            drive.push_str(",if=none");
        }
        args.extend(["-drive".into(), drive]);
        for device in devices {
            args.extend(["-device".into(), device]);
        }
    }
    args
}

/// QEMU option values escape a comma by doubling it.
fn qemu_escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

/// Copies a pipe into a shared buffer until it closes.
fn spawn_copier(
    from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<()> {
    spawn_reader(from, move |chunk| {
        into.lock()
            .expect("capture buffer")
            .extend_from_slice(chunk)
    })
}

/// Copies the console into `into` (raw bytes and lines stamped with their arrival time
/// since `started`) and into the run's console.log, until it closes.
fn spawn_console_copier(
    from: impl Read + Send + 'static,
    mut file: File,
    into: Arc<Mutex<Capture>>,
    started: Instant,
) -> thread::JoinHandle<()> {
    spawn_reader(from, move |chunk| {
        let arrived = started.elapsed();
        // The log file is a convenience; the capture is what the outcome uses.
        let _ = file.write_all(chunk);
        let mut capture = into.lock().expect("console buffer");
        capture.bytes.extend_from_slice(chunk);
        capture.lines.feed(arrived, chunk);
    })
}

/// Hands each chunk read from a pipe to `sink` until the pipe closes.
fn spawn_reader(
    mut from: impl Read + Send + 'static,
    mut sink: impl FnMut(&[u8]) + Send + 'static,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; READ_CHUNK];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink(&chunk[..n]);
        }
    })
}

/// The console as it arrives: raw bytes, and the same split into timed lines.
#[derive(Debug, Default)]
struct Capture {
    bytes: Vec<u8>,
    lines: TimedLines,
}

/// Console lines stamped with the time their newline arrived.
#[derive(Debug, Default)]
struct TimedLines {
    /// Bytes after the last newline.
    partial: Vec<u8>,
    complete: Vec<(Duration, String)>,
}

impl TimedLines {
    fn feed(&mut self, arrived: Duration, chunk: &[u8]) {
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            self.partial.extend_from_slice(piece);
            if piece.ends_with(b"\n") {
                let line = clean_console(&self.partial[..self.partial.len() - 1]);
                self.complete.push((arrived, line));
                self.partial.clear();
            }
        }
    }
}

/// Why [`watch`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// QEMU exited (by itself, or killed after a halt or panic line); its exit code.
    Exited(Option<i32>),
    TimedOut,
    /// SIGKILL sent this long after the start, as the cut asked.
    Cut(Duration),
}

/// When `cut` falls due, as time since the start: `None` while its needle has not
/// appeared in `lines` (or never will).
fn cut_due(cut: &Cut, lines: &[(Duration, String)]) -> Option<Duration> {
    match &cut.after {
        None => Some(cut.delay),
        Some(needle) => lines
            .iter()
            .find(|(_, line)| line.contains(needle.as_str()))
            .map(|(arrived, _)| *arrived + cut.delay),
    }
}

/// Waits for QEMU to exit, for a console line after which it would not (halt, panic), for
/// the cut or for the timeout, whichever comes first.
fn watch(
    child: &mut Child,
    console: &Mutex<Capture>,
    started: Instant,
    timeout: Duration,
    cut: Option<&Cut>,
) -> Result<Stop, Error> {
    let mut scanned: usize = 0;
    let mut cut_at: Option<Duration> = None;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io("wait for", "qemu-system-x86_64", e))?
        {
            return Ok(Stop::Exited(status.code()));
        }
        let final_line_seen = {
            let capture = console.lock().expect("console buffer");
            // Rescan a little before the new bytes: a marker may straddle two reads.
            let from = scanned.saturating_sub(64);
            scanned = capture.bytes.len();
            if let (None, Some(cut)) = (cut_at, cut) {
                cut_at = cut_due(cut, &capture.lines.complete);
            }
            outcome::is_final(&String::from_utf8_lossy(&capture.bytes[from..]))
        };
        let now = started.elapsed();
        if cut_at.is_some_and(|at| now >= at) && !final_line_seen {
            // The power cut itself: SIGKILL, so QEMU flushes nothing more to the images.
            child
                .kill()
                .map_err(|e| Error::io("kill", "qemu-system-x86_64", e))?;
            child
                .wait()
                .map_err(|e| Error::io("wait for", "qemu-system-x86_64", e))?;
            return Ok(Stop::Cut(now));
        }
        let timed_out = now >= timeout;
        if final_line_seen || timed_out {
            // A panic with panic=-1 reboots and QEMU exits by itself; give it a moment.
            if final_line_seen && wait_briefly(child)? {
                return Ok(Stop::Exited(
                    child.try_wait().ok().flatten().and_then(|s| s.code()),
                ));
            }
            let _ = child.kill();
            let status = child
                .wait()
                .map_err(|e| Error::io("wait for", "qemu-system-x86_64", e))?;
            return Ok(if timed_out && !final_line_seen {
                Stop::TimedOut
            } else {
                Stop::Exited(status.code())
            });
        }
        // Sleep no further than the cut, so it lands within a millisecond or so.
        let pause = cut_at
            .map(|at| at.saturating_sub(now))
            .map_or(POLL_INTERVAL, |left| left.min(POLL_INTERVAL));
        thread::sleep(pause);
    }
}

/// True if QEMU exits within a short grace period.
fn wait_briefly(child: &mut Child) -> Result<bool, Error> {
    const GRACE: Duration = Duration::from_millis(500);
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        if child
            .try_wait()
            .map_err(|e| Error::io("wait for", "qemu-system-x86_64", e))?
            .is_some()
        {
            return Ok(true);
        }
        thread::sleep(POLL_INTERVAL);
    }
    Ok(false)
}

/// Serial output uses CRLF; tests want plain lines. Firmware boots also carry the screen
/// SeaBIOS mirrors to the serial port, whose cursor moves (`ESC [ 14 ; 15 H`) can land in
/// the middle of a line ("Loading /initr\x1b[14;14Hd.img"): control sequences are dropped.
/// The raw bytes stay in the run's console.log.
fn clean_console(bytes: &[u8]) -> String {
    strip_control_sequences(&String::from_utf8_lossy(bytes)).replace('\r', "")
}

/// Removes ANSI/VT100 CSI sequences (`ESC [` parameters, then one final byte 0x40..=0x7E)
/// and two-byte `ESC x` escapes.
fn strip_control_sequences(text: &str) -> String {
    const ESC: char = '\x1b';
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != ESC {
            out.push(c);
            continue;
        }
        // `ESC x` is dropped whole; `ESC [` runs on to its final byte.
        if chars.next() == Some('[') {
            for p in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&p) {
                    break;
                }
            }
        }
    }
    out
}

fn read_output(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let disk = fs::read(path).map_err(|e| Error::io("read output disk", path, e))?;
    output_disk::decode(&disk)
        .map(|payload| payload.map(<[u8]>::to_vec))
        .map_err(|e| Error::unexpected(format!("output disk {}", path.display()), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Disk;

    #[test]
    fn console_drops_the_firmware_screen_mirror_cursor_moves() {
        let raw = b"Loading /initr\x1b[14;14H\x1b[14;15Hd.img...ok\r\n\x1b[2J\x1bcSYSLINUX\r\n";
        assert_eq!(clean_console(raw), "Loading /initrd.img...ok\nSYSLINUX\n");
        assert_eq!(
            clean_console(b"plain [    1.0] line\r\n"),
            "plain [    1.0] line\n"
        );
    }

    #[test]
    fn command_attaches_each_interface_and_the_output_disk() {
        let mut options = BootOptions::new("/k/vmlinuz");
        options.initrd = Some("/k/initrd".into());
        options.cmdline = "flashroot.failure=poweroff".into();
        options.disks = vec![
            Disk::new("/d/card,1.img", DiskInterface::Usb),
            Disk::new("/d/sata.img", DiskInterface::Ahci),
            Disk::new("/d/ide.img", DiskInterface::Ide),
        ];
        let text = describe(&qemu_command(&options, Some(Path::new("/run/output.img"))));
        for expected in [
            "-machine pc,accel=tcg",
            "-append console=ttyS0,115200 panic=-1 flashroot.failure=poweroff",
            "-initrd /k/initrd",
            "-device qemu-xhci,id=xhci",
            "-drive file=/d/card,,1.img,format=raw,id=disk0,if=none -device usb-storage,drive=disk0,bus=xhci.0",
            "-device ahci,id=ahci",
            "-drive file=/d/sata.img,format=raw,id=disk1,if=none -device ide-hd,drive=disk1,bus=ahci.0",
            "-drive file=/d/ide.img,format=raw,id=disk2,if=ide,index=0",
            "-drive file=/run/output.img,format=raw,id=disk3,if=virtio",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        assert!(!text.contains("kvm"), "{text}");
    }

    #[test]
    fn command_attaches_ehci_virtio_scsi_and_one_sdhci_controller_per_card() {
        let mut options = BootOptions::new("/k/vmlinuz");
        options.disks = vec![
            Disk::new("/d/ehci.img", DiskInterface::UsbEhci),
            Disk::new("/d/sd0.img", DiskInterface::Sd),
            Disk::new("/d/scsi0.img", DiskInterface::VirtioScsi),
            Disk::new("/d/sd1.img", DiskInterface::Sd),
            Disk::new("/d/scsi1.img", DiskInterface::VirtioScsi),
        ];
        let text = describe(&qemu_command(&options, None));
        for expected in [
            "-device usb-ehci,id=ehci -device virtio-scsi-pci,id=scsi -drive",
            "-drive file=/d/ehci.img,format=raw,id=disk0,if=none -device usb-storage,drive=disk0,bus=ehci.0",
            "-drive file=/d/sd0.img,format=raw,id=disk1,if=none -device sdhci-pci,id=sdhci0 -device sd-card,drive=disk1,bus=pci.0/sdhci0/sd-bus",
            "-drive file=/d/scsi0.img,format=raw,id=disk2,if=none -device scsi-hd,drive=disk2,bus=scsi.0,channel=0,scsi-id=0,lun=0",
            "-drive file=/d/sd1.img,format=raw,id=disk3,if=none -device sdhci-pci,id=sdhci1 -device sd-card,drive=disk3,bus=pci.0/sdhci1/sd-bus",
            "-drive file=/d/scsi1.img,format=raw,id=disk4,if=none -device scsi-hd,drive=disk4,bus=scsi.0,channel=0,scsi-id=1,lun=0",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        // Controllers only for the interfaces in use, each once.
        for absent in ["qemu-xhci", "ahci", "if=virtio", "if=ide"] {
            assert!(!text.contains(absent), "unexpected {absent:?} in {text}");
        }
        assert_eq!(text.matches("virtio-scsi-pci").count(), 1, "{text}");
    }

    #[test]
    fn usb_sticks_and_uas_disks_share_one_xhci_and_usb_1_1_controllers_stand_alone() {
        let mut options = BootOptions::new("/k/vmlinuz");
        options.disks = vec![
            Disk::new("/d/uas0.img", DiskInterface::UsbUas),
            Disk::new("/d/stick.img", DiskInterface::Usb),
            Disk::new("/d/uas1.img", DiskInterface::UsbUas),
            Disk::new("/d/uhci.img", DiskInterface::UsbUhci),
            Disk::new("/d/ohci.img", DiskInterface::UsbOhci),
        ];
        let text = describe(&qemu_command(&options, None));
        for expected in [
            "-device qemu-xhci,id=xhci -device piix3-usb-uhci,id=uhci -device pci-ohci,id=ohci -drive",
            "-drive file=/d/uas0.img,format=raw,id=disk0,if=none -device usb-uas,id=uas0,bus=xhci.0 -device scsi-hd,drive=disk0,bus=uas0.0,channel=0,scsi-id=0,lun=0",
            "-drive file=/d/stick.img,format=raw,id=disk1,if=none -device usb-storage,drive=disk1,bus=xhci.0",
            "-drive file=/d/uas1.img,format=raw,id=disk2,if=none -device usb-uas,id=uas1,bus=xhci.0 -device scsi-hd,drive=disk2,bus=uas1.0,channel=0,scsi-id=0,lun=0",
            "-drive file=/d/uhci.img,format=raw,id=disk3,if=none -device usb-storage,drive=disk3,bus=uhci.0",
            "-drive file=/d/ohci.img,format=raw,id=disk4,if=none -device usb-storage,drive=disk4,bus=ohci.0",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        assert_eq!(text.matches("qemu-xhci").count(), 1, "{text}");
    }

    #[test]
    fn every_interface_attaches_its_drive_once() {
        for interface in DiskInterface::ALL {
            let mut options = BootOptions::new("/k/vmlinuz");
            options.disks = vec![Disk::new("/d/disk.img", interface)];
            let text = describe(&qemu_command(&options, None));
            assert_eq!(
                text.matches("-drive file=/d/disk.img,").count(),
                1,
                "{interface:?}: {text}"
            );
            // A drive with `if=none` is only seen by the guest through a `-device`.
            if text.contains("if=none") {
                assert!(text.contains("drive=disk0"), "{interface:?}: {text}");
            }
        }
    }

    #[test]
    fn sd_card_must_be_writable_and_a_power_of_two() {
        let card = Path::new("card.img");
        assert!(check_sd_card(card, 64 << 20, false).is_ok());
        let error = check_sd_card(card, 48 << 20, false)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SD card card.img"), "{error}");
        assert!(
            error.contains("power of two") && error.contains("50331648 bytes"),
            "{error}"
        );
        assert!(error.contains("extend it to 67108864"), "{error}");
        let error = check_sd_card(card, 64 << 20, true).unwrap_err().to_string();
        assert!(error.contains("read-only"), "{error}");
    }

    #[test]
    fn sd_card_of_odd_size_is_refused_naming_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let card = dir.path().join("card.img");
        File::create(&card).unwrap().set_len(48 << 20).unwrap();
        let kernel = dir.path().join("vmlinuz");
        File::create(&kernel).unwrap();
        let mut options = BootOptions::new(&kernel);
        options.disks = vec![Disk::new(&card, DiskInterface::Sd)];
        let error = check_inputs(&options).unwrap_err().to_string();
        assert!(
            error.contains(&card.display().to_string()) && error.contains("power of two"),
            "{error}"
        );
    }

    #[test]
    fn firmware_boot_has_no_kernel_and_refuses_an_initrd() {
        let mut options = BootOptions::firmware();
        options.disks = vec![Disk::new("/d/card.img", DiskInterface::Ide)];
        let text = describe(&qemu_command(&options, None));
        assert!(text.contains("-nographic"), "{text}");
        assert!(
            !text.contains("-kernel") && !text.contains("-append"),
            "{text}"
        );
        options.initrd = Some("/k/initrd".into());
        let error = check_inputs(&options).unwrap_err().to_string();
        assert!(error.contains("firmware boot"), "{error}");
    }

    #[test]
    fn console_lines_keep_the_arrival_of_their_newline() {
        let mut lines = TimedLines::default();
        let ms = Duration::from_millis;
        lines.feed(ms(10), b"comm");
        lines.feed(ms(20), b"it 1\r\ncommit 2\r\n\x1b[0mcom");
        lines.feed(ms(30), b"mit 3\r\n");
        lines.feed(ms(40), b"no newline yet");
        assert_eq!(
            lines.complete,
            [
                (ms(20), "commit 1".to_owned()),
                (ms(20), "commit 2".to_owned()),
                (ms(30), "commit 3".to_owned()),
            ]
        );
    }

    #[test]
    fn cut_falls_due_after_the_first_matching_line_or_at_a_fixed_time() {
        let s = Duration::from_secs;
        let lines = vec![
            (s(1), "commit 19".to_owned()),
            (s(2), "commit 20".to_owned()),
            (s(3), "commit 20 again".to_owned()),
        ];
        assert_eq!(
            cut_due(&Cut::after_line("commit 20", s(3)), &lines),
            Some(s(5))
        );
        assert_eq!(cut_due(&Cut::after_line("commit 21", s(3)), &lines), None);
        assert_eq!(cut_due(&Cut::at(s(7)), &[]), Some(s(7)));
    }

    #[test]
    fn impossible_cuts_are_refused() {
        let s = Duration::from_secs;
        assert!(check_cut(&Cut::after_line("commit 20", s(3)), s(10)).is_ok());
        let empty = check_cut(&Cut::after_line("", s(3)), s(10))
            .unwrap_err()
            .to_string();
        assert!(empty.contains("needle is empty"), "{empty}");
        let two_lines = check_cut(&Cut::after_line("a\nb", s(3)), s(10))
            .unwrap_err()
            .to_string();
        assert!(two_lines.contains("spans lines"), "{two_lines}");
        let late = check_cut(&Cut::at(s(10)), s(10)).unwrap_err().to_string();
        assert!(late.contains("timeout (10.0 s)"), "{late}");
        let mut options = BootOptions::new("/bin/sh");
        options.cut = Some(Cut::at(s(500)));
        let error = check_inputs(&options).unwrap_err().to_string();
        assert!(error.contains("invalid parameter `cut`"), "{error}");
    }

    /// A stand-in guest: a shell printing commits, watched as QEMU would be.
    fn watch_shell(script: &str, timeout: Duration, cut: Option<&Cut>) -> WatchedRun {
        let dir = tempfile::tempdir().unwrap();
        let log = File::create(dir.path().join(CONSOLE_LOG)).unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        run_watched(&mut command, log, timeout, cut).unwrap()
    }

    /// How late a cut may land in these tests.
    const SLACK: Duration = Duration::from_millis(400);

    const COMMITS_THEN_HANG: &str =
        "for i in 1 2 3 4 5; do echo commit $i; sleep 0.2; done; echo late; exec sleep 30";

    #[test]
    fn cut_kills_the_process_the_delay_after_its_line() {
        let ms = Duration::from_millis;
        let cut = Cut::after_line("commit 2", ms(300));
        let run = watch_shell(COMMITS_THEN_HANG, Duration::from_secs(20), Some(&cut));
        let Stop::Cut(at) = run.stop else {
            panic!("not cut: {:?}", run.stop)
        };
        let commit_2 = run.console.lines.complete[1].0;
        // Never early; late only by the watcher's wake-up (generous: CI machines are busy).
        assert!(
            at >= commit_2 + ms(300) && at < commit_2 + ms(300) + SLACK,
            "cut at {at:?}, commit 2 at {commit_2:?}"
        );
        // Killed for good: nothing after the cut, far sooner than the shell would end.
        assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
        let texts: Vec<&str> = run
            .console
            .lines
            .complete
            .iter()
            .map(|(_, l)| l.as_str())
            .collect();
        assert!(texts.starts_with(&["commit 1", "commit 2"]), "{texts:?}");
        assert!(!texts.contains(&"late"), "{texts:?}");
        assert!(run.console.lines.complete.iter().all(|(t, _)| *t <= at));
    }

    #[test]
    fn fixed_cut_and_a_needle_that_never_comes() {
        let ms = Duration::from_millis;
        let run = watch_shell(
            COMMITS_THEN_HANG,
            Duration::from_secs(20),
            Some(&Cut::at(ms(500))),
        );
        assert!(
            matches!(run.stop, Stop::Cut(at) if at >= ms(500) && at < ms(500) + SLACK),
            "{:?}",
            run.stop
        );
        let never = Cut::after_line("commit 9", ms(0));
        let run = watch_shell(
            "echo commit 1; exit 3",
            Duration::from_secs(20),
            Some(&never),
        );
        assert_eq!(run.stop, Stop::Exited(Some(3)));
        let run = watch_shell(COMMITS_THEN_HANG, Duration::from_millis(400), Some(&never));
        assert_eq!(run.stop, Stop::TimedOut);
    }

    #[test]
    fn missing_kernel_is_named() {
        let error = boot(&BootOptions::new("/nonexistent/vmlinuz"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/vmlinuz"), "{error}");
    }
}
