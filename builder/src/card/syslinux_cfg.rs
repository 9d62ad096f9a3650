//! `syslinux.cfg` for a flashroot card, as the classic recipe wrote it by hand: the default
//! entry boots the JFFS2 root from the card; a second entry boots a conventional root with
//! the same kernel and initramfs (without the trigger word the init does a normal `root=`
//! boot); a third boots the flash root with the previous kernel and initramfs. A layered
//! root gets a fourth, failsafe: the base alone, with its changes in RAM.

use std::fmt::Write;

use super::layout::{INITRD, INITRD_OLD, VMLINUZ, VMLINUZ_OLD};

/// How long syslinux waits at its prompt, in tenths of a second (its unit).
pub const TIMEOUT_DECISECONDS: u32 = 30;
/// Entry names typed at the `boot:` prompt.
pub const LABEL_FLASH: &str = "flashroot";
pub const LABEL_CONVENTIONAL: &str = "conventional";
pub const LABEL_PREVIOUS: &str = "previous";
pub const LABEL_FAILSAFE: &str = "failsafe";
/// The JFFS2 filesystem type on the kernel command line; the init never probes it.
const ROOTFSTYPE: &str = "jffs2";

/// What the entries boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootConfig {
    /// The MTD label of the root container (`root=mtd:<label>`).
    pub root_label: String,
    /// The bare word selecting the flash boot (the config's `trigger`).
    pub trigger: String,
    /// The `root=` of the conventional entry, e.g. `/dev/sda2` or `UUID=...`.
    pub conventional_root: String,
    /// Words appended to every entry, e.g. `console=ttyS0 quiet`.
    pub append: String,
    /// A layered root: add the failsafe entry.
    pub layered: bool,
}

impl BootConfig {
    /// The flash root's kernel command line (without `initrd=`).
    pub fn flash_cmdline(&self) -> String {
        self.with_append(format!(
            "root=mtd:{} rootfstype={ROOTFSTYPE} {}",
            self.root_label, self.trigger
        ))
    }

    /// The failsafe entry's command line: the flash root's with `flashroot.failsafe`.
    pub fn failsafe_cmdline(&self) -> String {
        self.with_append(format!(
            "root=mtd:{} rootfstype={ROOTFSTYPE} {} {}",
            self.root_label,
            self.trigger,
            flashroot_runtime::keys::KEY_FAILSAFE
        ))
    }

    /// The conventional root's kernel command line (without `initrd=`).
    pub fn conventional_cmdline(&self) -> String {
        self.with_append(format!("root={} ro", self.conventional_root))
    }

    fn with_append(&self, line: String) -> String {
        let extra = self.append.trim();
        if extra.is_empty() {
            line
        } else {
            format!("{line} {extra}")
        }
    }
}

/// The whole file.
pub fn render(boot: &BootConfig) -> String {
    let mut out = String::new();
    out.push_str(
        "# Written by `flashroot card`; `flashroot install-hook` keeps the files current.\n",
    );
    let _ = writeln!(out, "DEFAULT {LABEL_FLASH}");
    out.push_str("PROMPT 1\n");
    let _ = writeln!(out, "TIMEOUT {TIMEOUT_DECISECONDS}");
    if boot.layered {
        let _ = writeln!(
            out,
            "SAY flashroot: {LABEL_FLASH} (default), {LABEL_CONVENTIONAL}, {LABEL_PREVIOUS} or {LABEL_FAILSAFE} (the base alone, changes in RAM)"
        );
    } else {
        let _ = writeln!(
            out,
            "SAY flashroot: {LABEL_FLASH} (default), {LABEL_CONVENTIONAL} or {LABEL_PREVIOUS}"
        );
    }
    entry(
        &mut out,
        LABEL_FLASH,
        VMLINUZ,
        INITRD,
        &boot.flash_cmdline(),
    );
    entry(
        &mut out,
        LABEL_CONVENTIONAL,
        VMLINUZ,
        INITRD,
        &boot.conventional_cmdline(),
    );
    entry(
        &mut out,
        LABEL_PREVIOUS,
        VMLINUZ_OLD,
        INITRD_OLD,
        &boot.flash_cmdline(),
    );
    if boot.layered {
        entry(
            &mut out,
            LABEL_FAILSAFE,
            VMLINUZ,
            INITRD,
            &boot.failsafe_cmdline(),
        );
    }
    out
}

fn entry(out: &mut String, label: &str, kernel: &str, initrd: &str, cmdline: &str) {
    let _ = write!(
        out,
        "\nLABEL {label}\n  KERNEL /{kernel}\n  APPEND initrd=/{initrd} {cmdline}\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_three_entries() {
        let boot = BootConfig {
            root_label: "rootfs".into(),
            trigger: "mtd".into(),
            conventional_root: "/dev/sda2".into(),
            append: " console=ttyS0 ".into(),
            layered: false,
        };
        assert_eq!(
            render(&boot),
            "# Written by `flashroot card`; `flashroot install-hook` keeps the files current.\n\
             DEFAULT flashroot\n\
             PROMPT 1\n\
             TIMEOUT 30\n\
             SAY flashroot: flashroot (default), conventional or previous\n\
             \n\
             LABEL flashroot\n\
             \x20 KERNEL /vmlinuz\n\
             \x20 APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd console=ttyS0\n\
             \n\
             LABEL conventional\n\
             \x20 KERNEL /vmlinuz\n\
             \x20 APPEND initrd=/initrd.img root=/dev/sda2 ro console=ttyS0\n\
             \n\
             LABEL previous\n\
             \x20 KERNEL /vmlinuz.old\n\
             \x20 APPEND initrd=/initrd.old.img root=mtd:rootfs rootfstype=jffs2 mtd console=ttyS0\n"
        );
    }

    #[test]
    fn custom_label_and_trigger_without_append() {
        let boot = BootConfig {
            root_label: "cf".into(),
            trigger: "flash".into(),
            conventional_root: "UUID=1234".into(),
            append: String::new(),
            layered: false,
        };
        assert_eq!(boot.flash_cmdline(), "root=mtd:cf rootfstype=jffs2 flash");
        assert_eq!(boot.conventional_cmdline(), "root=UUID=1234 ro");
    }

    #[test]
    fn a_layered_root_gets_a_failsafe_entry() {
        let boot = BootConfig {
            root_label: "rootfs".into(),
            trigger: "mtd".into(),
            conventional_root: "/dev/sda2".into(),
            append: "console=ttyS0".into(),
            layered: true,
        };
        let text = render(&boot);
        assert!(text.contains("SAY flashroot: flashroot (default), conventional, previous or failsafe (the base alone, changes in RAM)\n"), "{text}");
        assert!(
            text.ends_with(
                "\nLABEL failsafe\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img root=mtd:rootfs rootfstype=jffs2 mtd flashroot.failsafe console=ttyS0\n"
            ),
            "{text}"
        );
    }
}
