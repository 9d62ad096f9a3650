//! Not a test: `bench/layered.sh` runs it (`--ignored`) for BENCHMARKS.md (issue #13).
//! The same Debian minbase tree, at its own size and with ballast to over 400 MB, as a
//! single JFFS2 container and as a layered root (squashfs base + empty JFFS2 overlay):
//! the root's mount time as the init logs it and the guest uptime at which the init
//! execs the real init, and the card space each layout takes.

use flashroot_tests::debian_root;
use flashroot_tests::flashboot;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use flashboot::{card_of_size, ide, initramfs, kernel, run, FAIL_FAST};
use flashroot_config::Config;
use flashroot_tests::LAYERED_ERASE_SIZE;

/// The "real init" of these boots: report the uptime, power off through sysrq (no
/// systemd, so the measure ends where our init hands over).
const BENCH_INIT: &str = "sbin/flashroot-bench-init";
const BENCH_INIT_TEXT: &str = "#!/bin/sh\necho \"BENCH-INIT uptime=$(cut -d' ' -f1 /proc/uptime)\" > /dev/console\necho o > /proc/sysrq-trigger\nsleep 30\n";
const ERASE: u32 = 64 << 10;

fn du_bytes(path: &Path) -> u64 {
    let out = Command::new("du").arg("-sb").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Appends a line naming the file to every regular file under `dir`, so that no two
/// copies are identical (mksquashfs would store duplicates once) while the data still
/// compresses as the original does.
fn make_unique(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            make_unique(&e.path());
        } else if ft.is_file() {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().append(true).open(e.path()).unwrap();
            writeln!(f, "{}", e.path().display()).unwrap();
        }
    }
}

/// Copies of the tree's own /usr under /opt/ballast-N, each file made unique, until the
/// tree holds `target` bytes: data that compresses as a Debian root does.
fn add_ballast(root: &Path, target: u64) {
    let mut n = 0;
    while du_bytes(root) < target {
        let to = root.join(format!("opt/ballast-{n}"));
        fs::create_dir_all(&to).unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(root.join("usr/."))
            .arg(&to)
            .status()
            .unwrap();
        assert!(ok.success());
        make_unique(&to);
        n += 1;
    }
}

fn field(console: &str, needle: &str, after: &str) -> Option<String> {
    let line = console.lines().find(|l| l.contains(needle))?;
    let rest = &line[line.find(after)? + after.len()..];
    Some(rest.split_whitespace().next()?.to_string())
}

#[test]
#[ignore = "benchmark: bench/layered.sh"]
fn layered_root_benchmark() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let kernel = kernel();
    let dir = tempfile::tempdir().unwrap();
    let layered_text = flashroot_config::DEFAULT_TOML.replacen(
        "# base = \"base.sqfs\"",
        "base = \"base.sqfs\"",
        1,
    );
    let single_text = flashroot_config::DEFAULT_TOML;
    let config = Config::parse("layered", &layered_text).unwrap();
    // The layered root as the default config's comment recommends it: 512 KiB blocks.
    let layered_256k_text = flashroot_tests::layered_config();
    let initrd_single = dir.path().join("initrd-single.img");
    initramfs(&kernel, single_text, &initrd_single);
    let initrd_layered = dir.path().join("initrd-layered.img");
    initramfs(&kernel, &layered_text, &initrd_layered);
    let initrd_layered_256k = dir.path().join("initrd-layered-256k.img");
    initramfs(&kernel, &layered_256k_text, &initrd_layered_256k);

    for (name, target) in [("minbase", 0u64), ("minbase+ballast", 420_000_000)] {
        let prepared = dir.path().join("root");
        let _ = fs::remove_dir_all(&prepared);
        let root = debian_root::imported_offline_root(&prepared, &config);
        add_ballast(&root, target);
        let init = root.join(BENCH_INIT);
        fs::write(&init, BENCH_INIT_TEXT).unwrap();
        fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).unwrap();
        let tree_bytes = du_bytes(&root);

        // Single container: the used blocks plus 64 MiB free, as a user would size it.
        let single = dir.path().join("single.img");
        let unpadded = flashroot::jffs2::write_image(
            &root,
            &single,
            &flashroot::jffs2::Options {
                erase_size: ERASE,
                ..Default::default()
            },
        )
        .unwrap();
        let used = unpadded.blocks_used as u64 * ERASE as u64;
        let report = flashroot::jffs2::write_image(
            &root,
            &single,
            &flashroot::jffs2::Options {
                erase_size: ERASE,
                pad_to: Some(used + (64 << 20)),
                ..Default::default()
            },
        )
        .unwrap();
        let base = dir.path().join("base.sqfs");
        let sq = flashroot::squashfs::write_base(&root, &base, &Default::default()).unwrap();
        // The overlay's mount visits each of its erase blocks, empty or not: 64 MiB in
        // 64 KiB blocks (the classic container's size) and in 512 KiB blocks (recommended).
        let overlay = dir.path().join("overlay.img");
        let overlay_256k = dir.path().join("overlay-256k.img");
        for (path, erase_size) in [(&overlay, ERASE), (&overlay_256k, LAYERED_ERASE_SIZE)] {
            flashroot::layered::write_empty_overlay(
                path,
                &flashroot::jffs2::Options {
                    erase_size,
                    pad_to: Some(64 << 20),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        fs::remove_dir_all(&prepared).unwrap();
        let card_bytes = (used + sq.bytes + (200 << 20)).next_power_of_two();
        let single_card = dir.path().join("single-card.img");
        card_of_size(&single_card, &[("rootfs.img", &single)], card_bytes);
        let layered_card = dir.path().join("layered-card.img");
        card_of_size(
            &layered_card,
            &[("base.sqfs", &base), ("rootfs.img", &overlay)],
            card_bytes,
        );
        let card_256k = dir.path().join("layered-256k-card.img");
        card_of_size(
            &card_256k,
            &[("base.sqfs", &base), ("rootfs.img", &overlay_256k)],
            card_bytes,
        );
        for f in [&single, &base, &overlay, &overlay_256k] {
            fs::remove_file(f).unwrap();
        }
        println!(
            "layered-bench: {name}: tree {tree_bytes} bytes; single container {} blocks used = {used} bytes ({} nodes); squashfs base {} bytes ({})",
            report.blocks_used,
            report.nodes,
            sq.bytes,
            sq.compression.word()
        );
        for run_no in 1..=runs {
            for (layout, card, initrd) in [
                ("single", &single_card, &initrd_single),
                ("layered", &layered_card, &initrd_layered),
                ("layered-512KiB-blocks", &card_256k, &initrd_layered_256k),
            ] {
                // Under heavy host load TCG sometimes misses the timer check at boot
                // ("IO-APIC + timer doesn't work"): that boot is retried and counted.
                let mut outcome;
                let mut retries = 0;
                loop {
                    outcome = run(
                        &kernel,
                        initrd,
                        vec![ide(card)],
                        &format!("mtd {FAIL_FAST} init=/{BENCH_INIT}"),
                    );
                    if !outcome.console.contains("IO-APIC + timer doesn't work") || retries == 3 {
                        break;
                    }
                    retries += 1;
                    println!("layered-bench: {name} {layout} run {run_no}: the guest kernel panicked at its timer check (host load); retry {retries}");
                }
                let console = &outcome.console;
                let readahead = field(
                    console,
                    "read ahead what the JFFS2 scan reads of its",
                    " blocks in ",
                );
                let jffs2 = field(console, "flashroot: mounted mtd:rootfs in", "in ");
                let layered = field(
                    console,
                    "layered root: overlay mounted at /root in",
                    "layered root ready in ",
                );
                let exec = outcome.kernel_time_of("flashroot: exec /");
                let uptime = field(console, "BENCH-INIT uptime=", "uptime=");
                assert!(
                    uptime.is_some(),
                    "{layout} {name}: no BENCH-INIT line\n{}",
                    outcome.tail(40)
                );
                println!(
                    "layered-bench: {name} {layout} run {run_no}: read-ahead for the scan {} ms + JFFS2 mount {} ms; layered root (base + overlay mounts) {} ms; exec of the real init at {} s; real init's uptime {} s; QEMU wall {:.1} s",
                    readahead.unwrap_or_else(|| "-".into()),
                    jffs2.unwrap_or_else(|| "-".into()),
                    layered.unwrap_or_else(|| "-".into()),
                    exec.map_or_else(|| "-".into(), |t| format!("{t:.2}")),
                    uptime.unwrap_or_default(),
                    outcome.elapsed.as_secs_f64()
                );
            }
        }
        for c in [&single_card, &layered_card, &card_256k] {
            fs::remove_file(c).unwrap();
        }
    }
}
