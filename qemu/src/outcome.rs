//! How a boot ended, read from the serial console, and assertion helpers for tests.

use std::fmt;
use std::time::Duration;

/// Kernel console lines that end a boot (`kernel/reboot.c`, `kernel/panic.c`).
pub const PANIC_MARKER: &str = "Kernel panic - not syncing";
pub const POWER_OFF_MARKER: &str = "reboot: Power down";
pub const HALT_MARKER: &str = "reboot: System halted";
pub const RESTART_MARKER: &str = "reboot: Restarting system";
/// How many console lines a failed expectation shows.
pub const TAIL_LINES: usize = 50;

/// How the guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// `reboot: Power down`: the guest powered off (QEMU exits by itself).
    PoweredOff,
    /// `reboot: Restarting system` (QEMU exits because of `-no-reboot`).
    Rebooted,
    /// `reboot: System halted`: QEMU would idle forever, so the harness killed it.
    Halted,
    /// `Kernel panic - not syncing: <message>`; the message is kept.
    Panicked(String),
    /// Still running at the timeout; killed.
    TimedOut,
    /// QEMU exited without any of the lines above (e.g. bad arguments, triple fault).
    QemuExited(Option<i32>),
    /// The harness cut the power as [`crate::options::Cut`] asked: SIGKILL sent `at` this
    /// long after QEMU started. A line in [`Outcome::lines`] stamped later than `at` was
    /// written before the kill but still in the pipe.
    Cut { at: Duration },
}

/// What ends the run as soon as it appears on the console (QEMU may not exit by itself).
pub fn is_final(console: &str) -> bool {
    console.contains(HALT_MARKER) || console.contains(PANIC_MARKER)
}

/// The ending told by the console text; `None` if it shows none (timed out, or QEMU died).
pub fn classify(console: &str) -> Option<Ending> {
    if let Some(at) = console.find(PANIC_MARKER) {
        let line = console[at..].lines().next().unwrap_or_default();
        let message = line[PANIC_MARKER.len()..].trim_start_matches(':').trim();
        return Some(Ending::Panicked(message.to_owned()));
    }
    [
        (POWER_OFF_MARKER, Ending::PoweredOff),
        (HALT_MARKER, Ending::Halted),
        (RESTART_MARKER, Ending::Rebooted),
    ]
    .into_iter()
    .find(|(marker, _)| console.contains(marker))
    .map(|(_, ending)| ending)
}

/// The seconds in the printk timestamp (`[    1.234567] ...`) of the first console line
/// containing `needle`; `None` if no such line or it has no timestamp.
pub fn kernel_time_of(console: &str, needle: &str) -> Option<f64> {
    console
        .lines()
        .find(|line| line.contains(needle))
        .and_then(|line| line.trim_start().strip_prefix('['))
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(seconds, _)| seconds.trim().parse().ok())
}

/// Everything a finished boot left behind.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ending: Ending,
    /// The whole serial console, lossily decoded, `\r` removed.
    pub console: String,
    /// The console's complete lines (cleaned as `console`), each with the time since QEMU
    /// started at which its newline reached the host: later than the guest wrote it, so
    /// "arrived at least 0.5 s before the cut" implies "written at least 0.5 s before".
    pub lines: Vec<(Duration, String)>,
    /// Wall time from starting QEMU to its end.
    pub elapsed: Duration,
    /// The payload the guest framed on the output disk, if one was attached and written.
    pub output: Option<Vec<u8>>,
    /// What QEMU itself printed on stderr.
    pub qemu_stderr: String,
    /// The QEMU command line, for reproducing by hand.
    pub command: String,
}

impl Outcome {
    /// The last `n` console lines.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Panics, showing the console tail, unless the boot ended as `expected`.
    #[track_caller]
    pub fn expect_ending(&self, expected: &Ending) -> &Self {
        if &self.ending != expected {
            self.fail(&format!("expected {expected:?}, got {:?}", self.ending));
        }
        self
    }

    /// Panics unless the guest powered off cleanly.
    #[track_caller]
    pub fn expect_powered_off(&self) -> &Self {
        self.expect_ending(&Ending::PoweredOff)
    }

    /// Panics unless the console contains `needle`.
    #[track_caller]
    pub fn expect_console(&self, needle: &str) -> &Self {
        if !self.console.contains(needle) {
            self.fail(&format!("console lacks {needle:?}"));
        }
        self
    }

    /// The output disk payload, or a panic explaining its absence.
    #[track_caller]
    pub fn expect_output(&self) -> &[u8] {
        match &self.output {
            Some(output) => output,
            None => self.fail("the guest wrote nothing to the output disk"),
        }
    }

    /// When the power was cut (since QEMU started), if it was.
    pub fn cut_at(&self) -> Option<Duration> {
        match self.ending {
            Ending::Cut { at } => Some(at),
            _ => None,
        }
    }

    /// The console lines that arrived at least `margin` before the cut (all lines when
    /// there was no cut), in order.
    pub fn lines_before_cut(&self, margin: Duration) -> impl Iterator<Item = &str> {
        let limit = self.cut_at().map(|at| at.saturating_sub(margin));
        self.lines
            .iter()
            .filter(move |(arrived, _)| limit.is_none_or(|limit| *arrived <= limit))
            .map(|(_, line)| line.as_str())
    }

    /// Printk time of the first console line containing `needle` (see [`kernel_time_of`]).
    pub fn kernel_time_of(&self, needle: &str) -> Option<f64> {
        kernel_time_of(&self.console, needle)
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{self}")
    }
}

impl fmt::Display for Outcome {
    /// A failure report: ending, time, command, QEMU's stderr, the last console lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "boot ended {:?} after {:.1} s\ncommand: {}",
            self.ending,
            self.elapsed.as_secs_f64(),
            self.command
        )?;
        if !self.qemu_stderr.trim().is_empty() {
            writeln!(f, "qemu stderr:\n{}", self.qemu_stderr.trim_end())?;
        }
        write!(
            f,
            "--- last {TAIL_LINES} console lines ---\n{}\n--- end of console ---",
            self.tail(TAIL_LINES)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POWER_OFF: &str = "[    3.100000] flashroot: init 0.1.0 running as PID 1\n[    3.500000] reboot: Power down\n";

    #[test]
    fn power_off_is_recognised() {
        assert_eq!(classify(POWER_OFF), Some(Ending::PoweredOff));
        assert!(!is_final(POWER_OFF));
    }

    #[test]
    fn panic_wins_and_keeps_its_message() {
        let text = "[    2.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n[    2.1] reboot: Restarting system\n";
        assert_eq!(
            classify(text),
            Some(Ending::Panicked(
                "Attempted to kill init! exitcode=0x00000100".into()
            ))
        );
        assert!(is_final(text));
    }

    #[test]
    fn halt_and_restart_and_nothing() {
        assert_eq!(classify("reboot: System halted\n"), Some(Ending::Halted));
        assert!(is_final("x\nreboot: System halted"));
        assert_eq!(
            classify("reboot: Restarting system\n"),
            Some(Ending::Rebooted)
        );
        assert_eq!(classify("[    1.0] Run /init as init process\n"), None);
    }

    #[test]
    fn printk_time_is_parsed() {
        assert_eq!(kernel_time_of(POWER_OFF, "running as PID 1"), Some(3.1));
        assert_eq!(kernel_time_of("no stamp here\n", "stamp"), None);
        assert_eq!(kernel_time_of(POWER_OFF, "absent"), None);
    }

    #[test]
    fn lines_before_cut_keep_the_margin() {
        let second = Duration::from_secs;
        let outcome = Outcome {
            ending: Ending::Cut { at: second(10) },
            console: String::new(),
            lines: vec![
                (second(8), "commit 1".into()),
                (Duration::from_millis(9_500), "commit 2".into()),
                (Duration::from_millis(9_600), "commit 3".into()),
            ],
            elapsed: second(10),
            output: None,
            qemu_stderr: String::new(),
            command: String::new(),
        };
        assert_eq!(outcome.cut_at(), Some(second(10)));
        let early: Vec<&str> = outcome
            .lines_before_cut(Duration::from_millis(500))
            .collect();
        assert_eq!(early, ["commit 1", "commit 2"]);
        let uncut = Outcome {
            ending: Ending::PoweredOff,
            ..outcome
        };
        assert_eq!(uncut.cut_at(), None);
        assert_eq!(uncut.lines_before_cut(second(1)).count(), 3);
    }

    #[test]
    fn tail_and_failure_report() {
        let console: String = (1..=60).map(|i| format!("line {i}\n")).collect();
        let outcome = Outcome {
            ending: Ending::TimedOut,
            console,
            lines: Vec::new(),
            elapsed: Duration::from_secs(5),
            output: None,
            qemu_stderr: String::new(),
            command: "qemu-system-x86_64 ...".into(),
        };
        let tail = outcome.tail(TAIL_LINES);
        assert!(
            tail.starts_with("line 11\n") && tail.ends_with("line 60"),
            "{tail}"
        );
        let report = std::panic::catch_unwind(|| {
            outcome.expect_powered_off();
        })
        .unwrap_err();
        let report = report.downcast_ref::<String>().unwrap();
        assert!(
            report.contains("expected PoweredOff, got TimedOut"),
            "{report}"
        );
        assert!(
            report.contains("line 60") && !report.contains("line 10\n"),
            "{report}"
        );
    }
}
