//! Logging for PID 1: every record is formatted first, then written in one `write` to
//! `/dev/kmsg` (so the kernel keeps it as one record) and mirrored to the console with a
//! monotonic timestamp, so a serial log alone shows what the init did and when.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};

/// Every line the init prints starts with this.
pub const PREFIX: &str = "flashroot: ";
pub const KMSG_PATH: &str = "/dev/kmsg";

/// syslog priorities as `/dev/kmsg` reads them from a `<N>` prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// KERN_ERR: failures, shown by `dmesg --level=err`.
    Error = 3,
    /// KERN_NOTICE: a line worth a user's eye even from a process whose progress stays
    /// in the kernel log (the card agent). No copy of ours: the kernel echoes it to the
    /// console below its console loglevel, so `quiet` (loglevel 4) keeps it off.
    Notice = 5,
    /// KERN_DEBUG: progress. The console already gets our own copy, and the kernel only
    /// echoes records below its console loglevel (7 on Debian), so debug level avoids
    /// printing every step twice on a slow serial line.
    Debug = 7,
}

/// /dev/kmsg refuses (EINVAL) a record longer than this; longer messages are cut, the
/// console keeps them whole.
pub const KMSG_RECORD_MAX: usize = 1024;
/// Marks a cut record.
const CUT_MARK: &str = "...";

/// The kmsg record: `<level>flashroot: message` (the kernel adds its own timestamp), cut
/// at a character boundary to fit [`KMSG_RECORD_MAX`].
pub fn format_kmsg(level: Level, message: &str) -> String {
    let mut record = format!("<{}>{PREFIX}{message}", level as u8);
    if record.len() > KMSG_RECORD_MAX {
        let mut end = KMSG_RECORD_MAX - CUT_MARK.len();
        while !record.is_char_boundary(end) {
            end -= 1;
        }
        record.truncate(end);
        record.push_str(CUT_MARK);
    }
    record
}

/// The console line, timestamped like the kernel's own lines: `[    1.234567] flashroot: message`.
pub fn format_console(since_boot: Duration, message: &str) -> String {
    format!(
        "[{:5}.{:06}] {PREFIX}{message}\n",
        since_boot.as_secs(),
        since_boot.subsec_micros()
    )
}

/// Time since boot (CLOCK_MONOTONIC), the same clock as the kernel's log timestamps.
pub fn now() -> Duration {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(Duration::from)
        .unwrap_or_default()
}

static KMSG: Mutex<Option<File>> = Mutex::new(None);
/// `quiet` on the command line: progress goes to /dev/kmsg only, errors still to the
/// console too (a slow serial console costs about 9 ms per line at 115200 baud).
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Does a record of `level` go to the console?
pub fn to_console(level: Level, quiet: bool) -> bool {
    match level {
        Level::Error => true,
        Level::Notice => false,
        Level::Debug => !quiet,
    }
}

/// Opens `/dev/kmsg` once devtmpfs is mounted; before that, records go to the console only.
pub fn open() -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(KMSG_PATH)?;
    *KMSG.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
    Ok(())
}

/// For a process of ours that outlives switch_root (the card agent, the RAM directory
/// keeper): `/dev/kmsg` through a private node made in `dir` (a file it kept open on
/// devtmpfs would keep the root's /dev busy at shutdown), progress to the kernel log only,
/// errors also to the console.
pub fn open_outliving(dir: &str) {
    match crate::sys::node::open_private(KMSG_PATH, dir) {
        Ok(f) => open_with(f),
        Err(_) => drop(open()),
    }
    set_quiet(true);
}

/// Uses `file` as the `/dev/kmsg` handle (e.g. one not opened through devtmpfs).
pub fn open_with(file: File) {
    *KMSG.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
}

/// Drops the `/dev/kmsg` handle, e.g. before exec'ing the real init.
pub fn close() {
    *KMSG.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let message = args.to_string();
    if to_console(level, QUIET.load(Ordering::Relaxed)) {
        let console = format_console(now(), &message);
        // The console is fd 2, which the kernel opened on /dev/console for us. Errors are
        // ignored: PID 1 has nowhere better to report a broken console.
        let _ = std::io::stderr().write_all(console.as_bytes());
    }
    let mut kmsg = KMSG.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(file) = kmsg.as_mut() {
        let _ = file.write_all(format_kmsg(level, &message).as_bytes());
    }
}

/// Logs a progress line.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::kmsg::log($crate::kmsg::Level::Debug, format_args!($($arg)*)) };
}

/// Logs a line the kernel shows on the console unless the boot is `quiet`.
#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => { $crate::kmsg::log($crate::kmsg::Level::Notice, format_args!($($arg)*)) };
}

/// Logs a failure line.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::kmsg::log($crate::kmsg::Level::Error, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_record_has_level_and_prefix() {
        assert_eq!(format_kmsg(Level::Error, "boom"), "<3>flashroot: boom");
        assert_eq!(format_kmsg(Level::Debug, "step"), "<7>flashroot: step");
    }

    #[test]
    fn long_records_are_cut_to_what_kmsg_accepts() {
        let long = "é".repeat(1000);
        let record = format_kmsg(Level::Debug, &long);
        assert!(record.len() <= KMSG_RECORD_MAX, "{}", record.len());
        assert!(record.starts_with("<7>flashroot: éé"));
        assert!(record.ends_with("é..."), "cut at a character boundary");
        let short = format_kmsg(Level::Debug, "x");
        assert_eq!(short, "<7>flashroot: x");
    }

    #[test]
    fn console_line_is_timestamped_like_the_kernel() {
        let line = format_console(Duration::new(3, 25_000_000), "init 1 running as PID 1");
        assert_eq!(line, "[    3.025000] flashroot: init 1 running as PID 1\n");
    }

    #[test]
    fn quiet_keeps_only_errors_on_the_console() {
        assert!(to_console(Level::Error, true));
        assert!(!to_console(Level::Debug, true));
        assert!(to_console(Level::Debug, false));
        // Notices are the kernel's to echo (by its own loglevel): never a copy of ours.
        assert!(!to_console(Level::Notice, false));
        assert_eq!(format_kmsg(Level::Notice, "route"), "<5>flashroot: route");
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now();
        let b = now();
        assert!(b >= a, "{a:?} then {b:?}");
        assert!(a > Duration::ZERO);
    }
}
