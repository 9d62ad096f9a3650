//! The Debian kernel hook (`/etc/kernel/postinst.d/zz-flashroot`): on every kernel install
//! or upgrade it rebuilds the flashroot initramfs and copies kernel and initramfs to the
//! card, keeping the pair it replaces as the fallback (`previous`) entry's files.
//!
//! Debian runs each postinst.d hook as `hook VERSION /boot/vmlinuz-VERSION` (run-parts,
//! in name order: `zz-` puts ours after initramfs-tools' own hook). The script is plain
//! POSIX sh so it runs on a minbase system; the values it needs are baked in at install.

use std::fs;
use std::path::{Path, PathBuf};

use super::Error;

use super::layout::{INITRD, INITRD_OLD, KVER, KVER_OLD, PARTIAL_SUFFIX, VMLINUZ, VMLINUZ_OLD};

/// Where Debian's kernel packages look for hooks to run after installing a kernel.
pub const POSTINST_DIR: &str = "etc/kernel/postinst.d";
/// The hook's name: run-parts runs hooks in name order, and ours must come last.
pub const HOOK_NAME: &str = "zz-flashroot";
/// run-parts only runs executable hooks.
const HOOK_MODE: u32 = 0o755;

/// What the installed hook uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookSettings {
    /// The flashroot binary, as seen on the system that runs the hook.
    pub flashroot: String,
    /// The mounted card directory, e.g. `/run/flashroot/card`.
    pub card: String,
    /// The config passed to `flashroot build -c` when that file exists at hook time.
    pub config: String,
    /// Build host-only (`flashroot build --host-only`): the box's own drivers only.
    pub host_only: bool,
}

/// `text` as one single-quoted sh word.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The hook script.
pub fn render(settings: &HookSettings) -> String {
    let mut script = String::from(SCRIPT_HEAD);
    script.push_str(&format!(
        "FLASHROOT={}\nCARD={}\nCONFIG={}\nHOST_ONLY={}\n",
        shell_quote(&settings.flashroot),
        shell_quote(&settings.card),
        shell_quote(&settings.config),
        if settings.host_only { "yes" } else { "no" }
    ));
    script.push_str(
        &SCRIPT_BODY
            .replace("@VMLINUZ_OLD@", VMLINUZ_OLD)
            .replace("@INITRD_OLD@", INITRD_OLD)
            .replace("@KVER_OLD@", KVER_OLD)
            .replace("@VMLINUZ@", VMLINUZ)
            .replace("@INITRD@", INITRD)
            .replace("@KVER@", KVER)
            .replace("@PARTIAL@", PARTIAL_SUFFIX),
    );
    script
}

const SCRIPT_HEAD: &str = "#!/bin/sh
# flashroot kernel hook, installed by `flashroot install-hook`.
# Debian runs it as: zz-flashroot VERSION [/boot/vmlinuz-VERSION]
# It builds the flashroot initramfs for VERSION and copies kernel and initramfs to the
# card; the pair they replace is kept for syslinux.cfg's \"previous\" entry.
set -eu

";

const SCRIPT_BODY: &str = r#"
fail() {
    echo "flashroot kernel hook: $*" >&2
    exit 1
}

version="${1:?usage: zz-flashroot VERSION [/boot/vmlinuz-VERSION]}"
image="${2:-/boot/vmlinuz-$version}"

[ -d "$CARD" ] || fail "card directory $CARD is missing (is the card mounted?)"
[ -f "$image" ] || fail "kernel image $image is missing"
command -v "$FLASHROOT" >/dev/null 2>&1 || fail "flashroot binary $FLASHROOT is missing"

new_vmlinuz="$CARD/@VMLINUZ@@PARTIAL@"
new_initrd="$CARD/@INITRD@@PARTIAL@"
trap 'rm -f "$new_vmlinuz" "$new_initrd"' EXIT

set -- build --kver "$version" -o "$new_initrd"
if [ -f "$CONFIG" ]; then
    set -- "$@" -c "$CONFIG"
fi
if [ "$HOST_ONLY" = yes ]; then
    set -- "$@" --host-only
fi
"$FLASHROOT" "$@" || fail "\`$FLASHROOT $*\` failed; the card is unchanged"
cp "$image" "$new_vmlinuz" || fail "cannot copy $image to $CARD; the card is unchanged"
sync

# The pair on the card becomes the previous one, unless it is this same version again.
current=""
if [ -f "$CARD/@KVER@" ]; then
    current=$(cat "$CARD/@KVER@")
fi
if [ -f "$CARD/@VMLINUZ@" ] && [ -f "$CARD/@INITRD@" ] && [ "$current" != "$version" ]; then
    mv -f "$CARD/@VMLINUZ@" "$CARD/@VMLINUZ_OLD@"
    mv -f "$CARD/@INITRD@" "$CARD/@INITRD_OLD@"
    printf '%s\n' "${current:-unknown}" > "$CARD/@KVER_OLD@"
fi
mv -f "$new_vmlinuz" "$CARD/@VMLINUZ@"
mv -f "$new_initrd" "$CARD/@INITRD@"
printf '%s\n' "$version" > "$CARD/@KVER@"
sync
echo "flashroot kernel hook: $CARD boots $version; previous: $(cat "$CARD/@KVER_OLD@" 2>/dev/null || echo none)"
"#;

/// Writes the hook into `<root>/etc/kernel/postinst.d/` (atomically, mode 0755); returns its path.
pub fn install(root: &Path, settings: &HookSettings) -> Result<PathBuf, Error> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(POSTINST_DIR);
    fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let path = dir.join(HOOK_NAME);
    crate::atomic::replace(&path, |partial| {
        fs::write(partial, render(settings)).map_err(Error::io("write", partial))?;
        fs::set_permissions(partial, fs::Permissions::from_mode(HOOK_MODE))
            .map_err(Error::io("chmod", partial))
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_single_quotes() {
        assert_eq!(shell_quote("/run/card"), "'/run/card'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn script_bakes_settings_and_names_every_card_file() {
        let script = render(&HookSettings {
            flashroot: "/usr/local/bin/flashroot".into(),
            card: "/run/flashroot/card".into(),
            config: "/etc/flashroot/flashroot.toml".into(),
            host_only: true,
        });
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains(
            "FLASHROOT='/usr/local/bin/flashroot'\nCARD='/run/flashroot/card'\n\
             CONFIG='/etc/flashroot/flashroot.toml'\nHOST_ONLY=yes\n"
        ));
        let placeholder = script
            .split('@')
            .skip(1)
            .find(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()));
        assert_eq!(placeholder, None, "unreplaced placeholder in:\n{script}");
        for name in [VMLINUZ_OLD, INITRD_OLD, KVER_OLD, KVER] {
            assert!(script.contains(&format!("$CARD/{name}")), "{name}");
        }
    }
}
