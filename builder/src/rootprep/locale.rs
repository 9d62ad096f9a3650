//! Locales on a JFFS2 root. `localedef` adds every locale it compiles to one file,
//! `/usr/lib/locale/locale-archive`, which it maps shared and writable; JFFS2 refuses such
//! a mapping (`EINVAL`), so `locale-gen` prints "cannot map archive header" and makes
//! nothing, and `update-locale` then rejects the missing locale. `localedef --no-archive`
//! writes each locale as a directory, `/usr/lib/locale/<name>/`, which glibc reads the
//! same way (Debian's own `C.utf8` is one).
//!
//! So `/usr/bin/localedef` (package libc-bin) is diverted to
//! [`LOCALEDEF_DIVERTED`] with `dpkg-divert --local --rename`, and a two-line wrapper
//! that adds `--no-archive` takes its place. Every caller goes through it: `locale-gen`
//! (package `locales`, installed now or later by apt), its postinst, users. dpkg keeps
//! the diversion: upgrades of libc-bin install the new localedef at the diverted name
//! and leave the wrapper alone.

use std::fs;
use std::path::Path;

use super::dpkg;
use super::report::{Change, Report};
use super::tree;
use super::Error;
use crate::atomic;

/// The program every locale tool calls, as libc-bin installs it.
pub const LOCALEDEF: &str = "/usr/bin/localedef";
/// Where the real `localedef` lives once diverted (dpkg-divert's default name).
pub const LOCALEDEF_DIVERTED: &str = "/usr/bin/localedef.distrib";
const WRAPPER_MODE: u32 = 0o755;
/// What takes `localedef`'s place.
pub const LOCALEDEF_WRAPPER: &str = "#!/bin/sh\n\
# Installed by flashroot import-root. JFFS2 refuses the shared writable mapping of\n\
# /usr/lib/locale/locale-archive, so each locale is written as a directory,\n\
# /usr/lib/locale/<name>/, which glibc reads the same way. The real localedef is\n\
# diverted (dpkg-divert --list /usr/bin/localedef).\n\
exec /usr/bin/localedef.distrib --no-archive \"$@\"\n";
/// An archive the source root may already hold: glibc still reads it (a read-only mapping).
pub const LOCALE_ARCHIVE: &str = "/usr/lib/locale/locale-archive";

/// Diverts `localedef` and installs the wrapper, unless done already.
pub fn install_localedef_wrapper(root: &Path, report: &mut Report) -> Result<(), Error> {
    if !dpkg::is_dpkg_root(root) {
        report.push(Change::Kept {
            path: LOCALEDEF.into(),
            why: format!("no dpkg database ({}): not a Debian root", dpkg::STATUS),
        });
        return Ok(());
    }
    let host = tree::host_path(root, &tree::resolve(root, LOCALEDEF)?);
    match dpkg::diversion(root, LOCALEDEF)? {
        Some(d) if d.by.is_none() && d.to == LOCALEDEF_DIVERTED => {}
        Some(d) => {
            return Err(Error::DivertedElsewhere {
                root: root.to_path_buf(),
                path: LOCALEDEF,
                to: d.to,
                by: d.by.unwrap_or_else(|| "a local diversion".into()),
                wanted: LOCALEDEF_DIVERTED,
            })
        }
        None => {
            if fs::symlink_metadata(&host).is_err() {
                report.push(Change::Kept {
                    path: LOCALEDEF.into(),
                    why: "not installed (package libc-bin): nothing to divert".into(),
                });
                return Ok(());
            }
            if is_wrapper(&host)? {
                return Err(Error::WrapperWithoutDiversion {
                    root: root.to_path_buf(),
                    path: LOCALEDEF,
                });
            }
            dpkg::divert_local(root, LOCALEDEF, LOCALEDEF_DIVERTED)?;
            report.push(Change::Diverted {
                path: LOCALEDEF.into(),
                to: LOCALEDEF_DIVERTED.into(),
            });
        }
    }
    write_wrapper(&host, report)?;
    if tree::host_path(root, &tree::resolve(root, LOCALE_ARCHIVE)?).is_file() {
        report.push(Change::Kept {
            path: LOCALE_ARCHIVE.into(),
            why: "glibc still reads it; the next locale-gen replaces it with one directory \
                  per locale"
                .into(),
        });
    }
    Ok(())
}

/// Whether the file at `host` is the wrapper already (false if it is missing).
fn is_wrapper(host: &Path) -> Result<bool, Error> {
    match fs::read(host) {
        Ok(bytes) => Ok(bytes == LOCALEDEF_WRAPPER.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("read", host)(e)),
    }
}

fn write_wrapper(host: &Path, report: &mut Report) -> Result<(), Error> {
    if is_wrapper(host)? && tree::mode(host)? == WRAPPER_MODE {
        report.push(Change::Kept {
            path: LOCALEDEF.into(),
            why: "already flashroot's wrapper adding --no-archive".into(),
        });
        return Ok(());
    }
    atomic::write(host, LOCALEDEF_WRAPPER.as_bytes())?;
    tree::set_mode(host, WRAPPER_MODE)?;
    report.push(Change::WroteFile {
        path: LOCALEDEF.into(),
        mode: WRAPPER_MODE,
        why: "runs the real localedef with --no-archive: each locale becomes a directory \
              under /usr/lib/locale, as JFFS2 cannot map locale-archive shared and writable",
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_runs_the_diverted_localedef_without_the_archive() {
        let last = LOCALEDEF_WRAPPER.lines().last().unwrap();
        assert_eq!(
            last,
            format!("exec {LOCALEDEF_DIVERTED} --no-archive \"$@\"")
        );
        assert!(LOCALEDEF_WRAPPER.starts_with("#!/bin/sh\n"));
    }
}
