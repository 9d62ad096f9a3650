//! The module list the builder decides and the init follows, one module a line, in load
//! order: `name\tpath\tparameters\twhen\tneeds\tfilesystems`.
//!
//! - `when` says what makes the init load the module: `always` (loop, MTD, NLS…),
//!   `device` (a driver, loaded when a present device's modalias matches one of its aliases
//!   in [`ALIASES_PATH`]), `filesystem` (loaded when a mount needs one of its
//!   `filesystems`), or `dependency` (only as part of another module's `needs`).
//! - `needs` lists, comma-separated, every module that must be loaded before it (its
//!   dependencies and softdeps, transitively); the init loads them in this file's order.
//! - `filesystems` lists, comma-separated, the filesystem types the module registers (its
//!   `fs-<type>` aliases: `ext2,ext3,ext4` for ext4), as the kernel's `request_module`
//!   would look them up; the init has no modprobe, so it does this lookup itself.
//!
//! Lines starting with `#` are comments. A line with only the first three columns (the
//! format before coldplug) means `always` with no needs.

/// Where the builder puts the list in the initramfs.
pub const LOAD_ORDER_PATH: &str = "/etc/flashroot/modules.order";

/// The device aliases of the `device` modules, as `modules.alias` lines
/// (`alias <fnmatch pattern> <module>`), for the init's coldplug.
pub const ALIASES_PATH: &str = "/etc/flashroot/modules.alias";

/// What makes the init load a module.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoadWhen {
    /// At the start, on every machine.
    #[default]
    Always,
    /// When a device it drives is present (or as a last resort while the card is missing).
    Device,
    /// When a mount needs one of the filesystem types it registers: the type the plan
    /// names, or the one the root device's superblock says.
    Filesystem,
    /// Only as another module's dependency.
    Dependency,
}

impl LoadWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadWhen::Always => "always",
            LoadWhen::Device => "device",
            LoadWhen::Filesystem => "filesystem",
            LoadWhen::Dependency => "dependency",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [
            LoadWhen::Always,
            LoadWhen::Device,
            LoadWhen::Filesystem,
            LoadWhen::Dependency,
        ]
        .into_iter()
        .find(|w| w.as_str() == word)
    }
}

/// One module to load, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleEntry {
    /// The module name as the kernel knows it (`crc_t10dif`), for messages.
    pub name: String,
    /// The uncompressed `.ko` inside the initramfs.
    pub path: String,
    /// Parameters passed to `finit_module`, e.g. `max_loop=8`. May be empty.
    pub params: String,
    pub when: LoadWhen,
    /// Names of the modules to load first (dependencies and softdeps, transitively).
    pub needs: Vec<String>,
    /// The filesystem types it registers (`ext2`, `ext3`, `ext4`), for `filesystem` modules.
    pub filesystems: Vec<String>,
}

/// Renders the list in the file format.
pub fn render(entries: &[ModuleEntry]) -> String {
    let mut out = String::from(
        "# flashroot module load order: name\tpath\tparameters\twhen\tneeds\tfilesystems\n",
    );
    for e in entries {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            e.name,
            e.path,
            e.params,
            e.when.as_str(),
            e.needs.join(","),
            e.filesystems.join(",")
        ));
    }
    out
}

/// A line of the module list that does not parse: its 1-based number, what is wrong and
/// the line itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOrderError {
    pub line: usize,
    pub problem: &'static str,
    pub text: String,
}

impl std::fmt::Display for LoadOrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{LOAD_ORDER_PATH} line {}: {} (expected name<TAB>path<TAB>parameters<TAB>when<TAB>needs<TAB>filesystems), but got {:?}",
            self.line, self.problem, self.text
        )
    }
}

impl std::error::Error for LoadOrderError {}

/// Parses the file format; errors name the line.
pub fn parse(text: &str) -> Result<Vec<ModuleEntry>, LoadOrderError> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |problem: &'static str| LoadOrderError {
            line: i + 1,
            problem,
            text: line.to_string(),
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let (name, path) = match fields.as_slice() {
            [name, path, ..] if !name.is_empty() && !path.is_empty() => (*name, *path),
            _ => return Err(bad("no module name and path")),
        };
        let when = match fields.get(3) {
            None => LoadWhen::Always,
            Some(w) => LoadWhen::parse(w)
                .ok_or_else(|| bad("`when` must be always, device, filesystem or dependency"))?,
        };
        let list = |column: usize| -> Vec<String> {
            fields
                .get(column)
                .map(|n| {
                    n.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (needs, filesystems) = (list(4), list(5));
        if when == LoadWhen::Filesystem && filesystems.is_empty() {
            return Err(bad("a `filesystem` module must name its filesystems"));
        }
        entries.push(ModuleEntry {
            name: name.to_string(),
            path: path.to_string(),
            params: fields.get(2).unwrap_or(&"").to_string(),
            when,
            needs,
            filesystems,
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
                when: LoadWhen::Always,
                needs: vec![],
                filesystems: vec![],
            },
            ModuleEntry {
                name: "libata".into(),
                path: "/lib/modules/6.1.0/kernel/drivers/ata/libata.ko".into(),
                params: String::new(),
                when: LoadWhen::Dependency,
                needs: vec!["scsi_common".into(), "scsi_mod".into()],
                filesystems: vec![],
            },
            ModuleEntry {
                name: "ata_piix".into(),
                path: "/lib/modules/6.1.0/kernel/drivers/ata/ata_piix.ko".into(),
                params: String::new(),
                when: LoadWhen::Device,
                needs: vec!["scsi_common".into(), "scsi_mod".into(), "libata".into()],
                filesystems: vec![],
            },
            ModuleEntry {
                name: "ext4".into(),
                path: "/lib/modules/6.1.0/kernel/fs/ext4/ext4.ko".into(),
                params: String::new(),
                when: LoadWhen::Filesystem,
                needs: vec!["crc16".into(), "mbcache".into(), "jbd2".into()],
                filesystems: vec!["ext2".into(), "ext3".into(), "ext4".into()],
            },
        ];
        let text = render(&entries);
        assert!(
            text.contains("ata_piix.ko\t\tdevice\tscsi_common,scsi_mod,libata\t\n"),
            "{text}"
        );
        assert!(
            text.contains("ext4.ko\t\tfilesystem\tcrc16,mbcache,jbd2\text2,ext3,ext4\n"),
            "{text}"
        );
        assert_eq!(parse(&text), Ok(entries));
    }

    #[test]
    fn reads_the_three_column_format_as_always() {
        let entries = parse("jffs2\t/lib/jffs2.ko\t\n").unwrap();
        assert_eq!(entries[0].when, LoadWhen::Always);
        assert!(entries[0].needs.is_empty());
        assert_eq!(entries[0].path, "/lib/jffs2.ko");
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse("# c\nloop\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = err.to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = parse("a\t/a.ko\t\tsometimes\t\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("`when`"), "{err}");
        let err = parse("ext4\t/ext4.ko\t\tfilesystem\t\t\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must name its filesystems"), "{err}");
    }
}
