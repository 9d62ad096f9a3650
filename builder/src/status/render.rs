//! The human-readable report.

use std::fmt::Write;

use super::{Jffs2Mount, Route, Status};

/// The report as lines of text, in the order of the data's way: card, containers, JFFS2,
/// RAM, durability.
pub fn human(s: &Status) -> String {
    let mut out = String::new();
    let w = &mut out;
    let card = &s.card;
    let _ = writeln!(
        w,
        "card: {} on {}{}",
        card.device.as_deref().unwrap_or("?"),
        card.mount.as_deref().unwrap_or("(detached)"),
        if card.read_only == Some(true) {
            " (read-only)"
        } else {
            ""
        }
    );
    if let Some(fat) = card.fat {
        let _ = writeln!(
            w,
            "  {:?} dirty bit: {}",
            fat.kind,
            if fat.dirty {
                "set (normal while mounted read-write; a clean shutdown clears it)"
            } else {
                "clear"
            }
        );
    }
    for c in &s.containers {
        let route = match c.route {
            Route::Agent => format!(
                "card agent (pid {}{}) over {}",
                c.agent_pid.map_or("?".into(), |p| p.to_string()),
                if c.agent_running { "" } else { ", NOT RUNNING" },
                c.device
            ),
            Route::Loop => format!("loop device {}", c.device),
            Route::Other => c.device.clone(),
        };
        let _ = writeln!(w, "container {}: {route}", c.file);
        if let Some(to) = &c.writes_to {
            let _ = writeln!(
                w,
                "  writes to {to}, {}",
                match c.direct_io {
                    Some(true) => "direct I/O",
                    Some(false) => "through the page cache",
                    None => "I/O mode unknown",
                }
            );
        }
        if let Some(ms) = c.flush_ms {
            let _ = writeln!(w, "  flushed every {ms} ms");
        }
        match &c.mtd {
            Some(m) => {
                let _ = writeln!(
                    w,
                    "  {} ({}): {}, erase block {}",
                    m.name,
                    c.mtd_label,
                    size(m.size_bytes),
                    size(m.erase_bytes)
                );
            }
            None => {
                let _ = writeln!(w, "  MTD {}: not found", c.mtd_label);
            }
        }
    }
    for j in &s.jffs2 {
        let _ = write!(w, "jffs2 {} ({}", j.mountpoint, j.source);
        if let Some(c) = &j.container {
            let _ = write!(w, ", {c}");
        }
        let _ = writeln!(w, ")");
        let _ = writeln!(w, "  {}", free_space(j));
    }
    for m in &s.ram_mounts {
        let _ = writeln!(
            w,
            "{} {}: {} used of {}{}",
            m.fstype,
            m.mountpoint,
            size(m.used_bytes),
            size(m.size_bytes),
            if m.ramdir { " (RAM directory)" } else { "" }
        );
    }
    for r in &s.ramdirs {
        let saved = match (r.saved_copy, r.last_save_age_seconds) {
            (Some(n), Some(age)) => format!("last saved {age} s ago (copy {n})"),
            (Some(n), None) => format!("saved copy {n}"),
            _ => "never saved yet".into(),
        };
        let _ = writeln!(
            w,
            "RAM directory {}: {}{saved}{}",
            r.path,
            if r.mounted { "" } else { "NOT MOUNTED, " },
            r.save_minutes
                .map_or(String::new(), |m| format!(", saved every {m} min"))
        );
    }
    let d = &s.durability;
    let _ = writeln!(
        w,
        "durability: {} writes; a power cut loses {}",
        d.writes, d.loss_window
    );
    if s.near_enospc.near {
        let _ = writeln!(
            w,
            "warning: the root is near ENOSPC: {} left, under {}",
            size(s.near_enospc.root_data_free.unwrap_or(0)),
            size(s.near_enospc.threshold)
        );
    }
    for warning in &s.warnings {
        let _ = writeln!(w, "warning: {warning}");
    }
    out
}

/// A size for people: exact when it is a whole number of KiB/MiB/GiB, else to a tenth.
fn size(bytes: u64) -> String {
    let exact = flashroot_config::format_size(bytes);
    if exact.ends_with("iB") || bytes < 1024 {
        return exact;
    }
    let (unit, div) = if bytes >= 1 << 30 {
        ("GiB", (1u64 << 30) as f64)
    } else if bytes >= 1 << 20 {
        ("MiB", (1u64 << 20) as f64)
    } else {
        ("KiB", 1024.0)
    };
    format!("{:.1} {unit}", bytes as f64 / div)
}

/// One JFFS2 mount's free space in words: the sure and the most room for incompressible
/// data, what df says and the kernel's reserve (also `flashroot overlay`'s line).
pub fn free_space(j: &Jffs2Mount) -> String {
    match &j.space {
        Some(sp) => format!(
            "free: {} of incompressible data for sure, never more than {} (df says {}; the kernel keeps {} for garbage collection)",
            size(sp.data_free),
            size(sp.data_free_max),
            size(sp.df_free),
            size(sp.reserve_bytes)
        ),
        None => format!(
            "df says {} free (MTD geometry unknown)",
            size(j.statfs.avail_blocks * j.statfs.block_bytes)
        ),
    }
}
