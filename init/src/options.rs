//! Mount options as users write them (`noatime,ro,compr=zlib`), split into the flags
//! mount(2) takes and the data string the filesystem parses, and back for messages.

use nix::mount::MsFlags;

/// The options that are mount(2) flags; everything else goes to the filesystem.
const FLAG_OPTIONS: &[(&str, MsFlags)] = &[
    ("ro", MsFlags::MS_RDONLY),
    ("nosuid", MsFlags::MS_NOSUID),
    ("nodev", MsFlags::MS_NODEV),
    ("noexec", MsFlags::MS_NOEXEC),
    ("sync", MsFlags::MS_SYNCHRONOUS),
    ("dirsync", MsFlags::MS_DIRSYNC),
    ("noatime", MsFlags::MS_NOATIME),
    ("nodiratime", MsFlags::MS_NODIRATIME),
    ("relatime", MsFlags::MS_RELATIME),
    ("strictatime", MsFlags::MS_STRICTATIME),
    ("lazytime", MsFlags::MS_LAZYTIME),
    ("silent", MsFlags::MS_SILENT),
];

/// Options that only undo a flag or mean "nothing special".
const NO_OP_OPTIONS: &[&str] = &["rw", "defaults", "suid", "dev", "exec", "async", "atime"];

/// Splits options (each may itself be comma-separated) into flags and data.
pub fn split<S: AsRef<str>>(options: &[S]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for opt in options.iter().flat_map(|o| o.as_ref().split(',')) {
        let opt = opt.trim();
        if opt.is_empty() || NO_OP_OPTIONS.contains(&opt) {
            continue;
        }
        match FLAG_OPTIONS.iter().find(|(name, _)| *name == opt) {
            Some((_, flag)) => flags |= *flag,
            None => data.push(opt),
        }
    }
    (flags, data.join(","))
}

/// Flags and data as one option string, as mount(8) would print them: `ro,noatime,size=1M`.
/// Read-write is written out because it matters for the card and the root.
pub fn describe(flags: MsFlags, data: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !flags.contains(MsFlags::MS_RDONLY) {
        parts.push("rw");
    }
    for (name, flag) in FLAG_OPTIONS {
        if flags.contains(*flag) {
            parts.push(name);
        }
    }
    for (name, flag) in [
        ("bind", MsFlags::MS_BIND),
        ("move", MsFlags::MS_MOVE),
        ("rec", MsFlags::MS_REC),
    ] {
        if flags.contains(flag) {
            parts.push(name);
        }
    }
    if !data.is_empty() {
        parts.push(data);
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_flags_from_data() {
        let (flags, data) = split(&["noatime", "compr=zlib,ro", "rw", "iocharset=ascii"]);
        assert_eq!(flags, MsFlags::MS_NOATIME | MsFlags::MS_RDONLY);
        assert_eq!(data, "compr=zlib,iocharset=ascii");
    }

    #[test]
    fn empty_and_no_op_options() {
        let (flags, data) = split(&["", "defaults,rw"]);
        assert_eq!((flags, data.as_str()), (MsFlags::empty(), ""));
    }

    #[test]
    fn describes_as_mount_would() {
        assert_eq!(
            describe(MsFlags::MS_NOATIME, "mode=1777"),
            "rw,noatime,mode=1777"
        );
        assert_eq!(describe(MsFlags::MS_RDONLY, ""), "ro");
        assert_eq!(describe(MsFlags::MS_MOVE, ""), "rw,move");
    }

    #[test]
    fn round_trips_through_describe() {
        let (flags, data) = split(&["ro,nosuid,nodev,size=10%"]);
        let (again, data_again) = split(&[describe(flags, &data)]);
        assert_eq!((again, data_again), (flags, data));
    }
}
