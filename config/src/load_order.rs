//! The module load list the builder decides and the init follows, one module a line:
//! `<path inside the initramfs>\t<parameters>`. Lines starting with `#` are comments.

/// Where the builder puts the list in the initramfs.
pub const LOAD_ORDER_PATH: &str = "/etc/flashroot/modules.order";

/// One module to load, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleEntry {
    /// The module name as the kernel knows it (`crc_t10dif`), for messages.
    pub name: String,
    /// The uncompressed `.ko` inside the initramfs.
    pub path: String,
    /// Parameters passed to `finit_module`, e.g. `max_loop=8`. May be empty.
    pub params: String,
}

/// Renders the list in the file format.
pub fn render(entries: &[ModuleEntry]) -> String {
    let mut out = String::from("# flashroot module load order: name\tpath\tparameters\n");
    for e in entries {
        out.push_str(&format!("{}\t{}\t{}\n", e.name, e.path, e.params));
    }
    out
}

/// Parses the file format; errors name the line.
pub fn parse(text: &str) -> Result<Vec<ModuleEntry>, String> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let (Some(name), Some(path)) = (fields.next(), fields.next()) else {
            return Err(format!(
                "{LOAD_ORDER_PATH} line {}: expected name<TAB>path<TAB>parameters, but got {line:?}",
                i + 1
            ));
        };
        entries.push(ModuleEntry {
            name: name.to_string(),
            path: path.to_string(),
            params: fields.next().unwrap_or("").to_string(),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let entries = vec![
            ModuleEntry {
                name: "loop".into(),
                path: "/lib/modules/6.1.0/kernel/drivers/block/loop.ko".into(),
                params: "max_loop=8 max_part=2".into(),
            },
            ModuleEntry {
                name: "jffs2".into(),
                path: "/lib/modules/6.1.0/kernel/fs/jffs2/jffs2.ko".into(),
                params: String::new(),
            },
        ];
        assert_eq!(parse(&render(&entries)), Ok(entries));
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse("# c\nloop\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }
}
