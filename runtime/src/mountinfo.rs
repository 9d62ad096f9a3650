//! `/proc/self/mountinfo`, parsed, and the order to unmount a tree in: the shutdown
//! program unmounts with it, `flashroot status` and `flashroot build --host-only` read it.

pub const PATH: &str = "/proc/self/mountinfo";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub mountpoint: String,
    pub fstype: String,
    pub source: String,
}

/// The mounts in the kernel's order (parents before the mounts on top of them). Lines
/// that do not have mountinfo's shape are skipped: a mount we cannot read is one we
/// cannot unmount by name anyway, and the rest still must go down.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`:
/// the mountpoint is field 5; after the optional fields and `-` come type and source.
fn parse_line(line: &str) -> Option<MountEntry> {
    let mut fields = line.split(' ');
    let mountpoint = fields.nth(4)?;
    let mut rest = fields.skip_while(|f| *f != "-");
    rest.next()?;
    let fstype = rest.next()?;
    let source = rest.next()?;
    Some(MountEntry {
        mountpoint: unescape(mountpoint),
        fstype: unescape(fstype),
        source: unescape(source),
    })
}

/// The kernel writes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
                out.push(v as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Is `path` `top` itself or below it (by whole components)?
pub fn is_under(path: &str, top: &str) -> bool {
    let top = top.trim_end_matches('/');
    path == top || path.strip_prefix(top).is_some_and(|r| r.starts_with('/'))
}

/// The mounts at or below `top`, in the order to unmount them: deepest first, and of
/// mounts at the same depth (stacked on one mountpoint, or siblings) the later first.
pub fn unmount_order<'a>(mounts: &'a [MountEntry], top: &str) -> Vec<&'a MountEntry> {
    let mut under: Vec<&MountEntry> = mounts
        .iter()
        .rev()
        .filter(|m| is_under(&m.mountpoint, top))
        .collect();
    let depth = |m: &MountEntry| m.mountpoint.split('/').filter(|c| !c.is_empty()).count();
    // Stable: equal depths keep the reversed (latest first) order.
    under.sort_by_key(|m| std::cmp::Reverse(depth(m)));
    under
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the table after systemd-shutdown's pivot into /run/initramfs (written
    /// after its switch_root code, shortened; one ext4 mount added for the escapes).
    const AFTER_PIVOT: &str = "\
25 1 0:22 /initramfs / rw,nosuid,nodev shared:1 - tmpfs tmpfs rw,mode=755
26 25 31:0 / /oldroot rw,noatime - jffs2 mtd0 rw
27 26 0:5 / /oldroot/dev rw,nosuid - devtmpfs devtmpfs rw,size=493712k,mode=755
28 27 0:23 / /oldroot/dev/pts rw,nosuid,noexec - devpts devpts rw,gid=5,mode=620
29 26 0:22 / /oldroot/run rw,nosuid,nodev - tmpfs tmpfs rw,mode=755
30 29 8:1 / /oldroot/run/flashroot/card rw - vfat /dev/sda1 rw,iocharset=ascii
31 26 0:30 / /oldroot/tmp rw - tmpfs tmpfs rw,mode=1777
32 26 0:31 / /oldroot/var/cache/apt rw - overlay overlay rw,lowerdir=/root/var/cache/apt
33 25 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw
34 25 0:22 / /run rw,nosuid,nodev - tmpfs tmpfs rw,mode=755
35 26 0:32 / /oldroot/my\\040disk rw shared:7 master:3 - ext4 /dev/sdb\\0401 rw
";

    #[test]
    fn parses_mountpoint_type_and_source_with_escapes() {
        let m = parse(AFTER_PIVOT);
        assert_eq!(m.len(), 11);
        assert_eq!(
            m[1],
            MountEntry {
                mountpoint: "/oldroot".into(),
                fstype: "jffs2".into(),
                source: "mtd0".into()
            }
        );
        assert_eq!(m[10].mountpoint, "/oldroot/my disk");
        assert_eq!(m[10].source, "/dev/sdb 1");
        assert_eq!(m[10].fstype, "ext4");
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let m = parse("nonsense\n1 2 3:4 / /x rw - tmpfs\n26 1 31:0 / /y rw - jffs2 mtd0 rw\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].mountpoint, "/y");
    }

    #[test]
    fn unmounts_deepest_first_and_only_below_the_top() {
        let m = parse(AFTER_PIVOT);
        let order: Vec<&str> = unmount_order(&m, "/oldroot")
            .iter()
            .map(|m| m.mountpoint.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "/oldroot/var/cache/apt",
                "/oldroot/run/flashroot/card",
                "/oldroot/dev/pts",
                "/oldroot/my disk",
                "/oldroot/tmp",
                "/oldroot/run",
                "/oldroot/dev",
                "/oldroot",
            ]
        );
    }

    #[test]
    fn stacked_mounts_go_latest_first() {
        let m = parse(
            "1 0 0:1 / /oldroot/tmp rw - tmpfs first rw\n2 1 0:2 / /oldroot/tmp rw - tmpfs second rw\n",
        );
        let order: Vec<&str> = unmount_order(&m, "/oldroot/")
            .iter()
            .map(|m| m.source.as_str())
            .collect();
        assert_eq!(order, ["second", "first"]);
    }

    #[test]
    fn under_means_whole_components() {
        assert!(is_under("/oldroot", "/oldroot"));
        assert!(is_under("/oldroot/x", "/oldroot"));
        assert!(!is_under("/oldrootfs", "/oldroot"));
        assert!(is_under("/anything", "/"));
    }
}
