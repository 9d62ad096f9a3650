//! Issue #11, wear: with the default config, the short append-and-rename workload must
//! not hammer any card sector outside the containers. QEMU traces every write the guest
//! makes to the card; `flashroot::wear` maps them onto the card's regions.
//!
//! `FLASHROOT_WEAR_RECIPE=classic` runs the same check on the classic recipe (buffered
//! loop device, plain vfat mount), where it fails: bench/wear-classic-failure.txt.

use flashroot_tests::debian_root;
use flashroot_tests::flashboot;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use flashboot::wear::{
    traced_boot, traced_run, Recipe, WearRun, Workload, APT_DIR, APT_INIT_PATH, APT_PACKAGES,
};
use flashboot::*;

/// Guest seconds of the short workload.
const SHORT_RUN_SECONDS: u32 = 40;

/// The most writes any card sector outside the containers may take in one short run.
/// Measured per boot with the defaults (bench/wear-classic-failure.txt has both tables):
/// the boot sector once (vfat's `fat_set_state` marks the volume dirty at mount; the
/// clean mark at unmount never comes, `poweroff -f` skips it) and the root directory
/// sector once (the container's mtime, kept in RAM by `lazytime`, written by the final
/// `sync`); the FSInfo sector may join them. So 1 write per sector, 2 with a second sync;
/// 4 leaves that margin twice over, while the classic recipe's directory sector, rewritten
/// at every loop write-back, takes 10 in the same 47 s.
const MAX_WRITES_OUTSIDE_CONTAINERS: u32 = 4;

#[test]
fn short_workload_writes_no_card_sector_outside_the_containers_more_than_a_few_times() {
    check_outside_the_containers(Workload::Appends);
}

/// The same with a `sync` every 5 s: sync(2) writes out the times `lazytime` keeps in RAM,
/// so a container written through its FAT file has its directory sector rewritten at
/// nearly every sync (13 times in 70 s, bench/wear-logger-file-route.txt). The card agent
/// writes the container on the partition instead, and the entry keeps its time.
#[test]
fn syncing_workload_does_not_rewrite_the_containers_directory_entry() {
    check_outside_the_containers(Workload::Logger);
}

fn check_outside_the_containers(workload: Workload) {
    let recipe = match std::env::var("FLASHROOT_WEAR_RECIPE") {
        Ok(name) => Recipe::parse(&name)
            .unwrap_or_else(|| panic!("FLASHROOT_WEAR_RECIPE={name}: flashroot or classic")),
        Err(_) => Recipe::Flashroot,
    };
    let dir = tempfile::tempdir().unwrap();
    let run = traced_run(&kernel(), dir.path(), recipe, workload, SHORT_RUN_SECONDS);
    let report = run.report();
    let table = report.table();
    println!(
        "{recipe:?} recipe, {workload:?}, {:.0} s of guest time:\n{table}",
        run.guest_seconds
    );
    let containers: u64 = report
        .regions
        .iter()
        .filter(|r| r.kind.is_container())
        .map(|r| r.writes)
        .sum();
    assert!(
        containers > 0,
        "the workload wrote nothing to the container: is the trace the card's?\n{table}"
    );
    let offenders: Vec<String> = report
        .regions
        .iter()
        .filter(|r| !r.kind.is_container())
        .filter_map(|r| {
            let h = r.hottest?;
            (h.writes > MAX_WRITES_OUTSIDE_CONTAINERS).then(|| {
                format!(
                    "{}: card sector {} (offset {} in the region) written {} times",
                    r.name, h.sector, h.offset, h.writes
                )
            })
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "{recipe:?} recipe, {workload:?}: sectors outside the containers written more than \
         {MAX_WRITES_OUTSIDE_CONTAINERS} times in {:.0} s:\n  {}\n{table}",
        run.guest_seconds,
        offenders.join("\n  ")
    );
}

/// One run of bench/wear.sh (not a test: no assertion on the numbers). Reads
/// `WEAR_WORKLOAD` (appends | logger), `WEAR_RECIPE` (flashroot | classic | ext4),
/// `WEAR_SECONDS` and `WEAR_OUT`, and leaves in `WEAR_OUT` the card image, the trace,
/// the console and the guest's run length (`guest-seconds`), for `flashroot wear`.
#[test]
#[ignore = "benchmark run for bench/wear.sh"]
fn bench_wear_run() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let workload =
        Workload::parse(&var("WEAR_WORKLOAD")).expect("WEAR_WORKLOAD: appends, logger or apt");
    let recipe =
        Recipe::parse(&var("WEAR_RECIPE")).expect("WEAR_RECIPE: flashroot, classic or ext4");
    let seconds: u32 = var("WEAR_SECONDS")
        .parse()
        .expect("WEAR_SECONDS: whole seconds");
    let out = std::path::PathBuf::from(var("WEAR_OUT"));
    std::fs::create_dir_all(&out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = if workload.needs_debian() {
        traced_debian_run(dir.path(), recipe, workload, seconds)
    } else {
        traced_run(&kernel(), dir.path(), recipe, workload, seconds)
    };
    std::fs::copy(&run.card, out.join("card.img")).unwrap();
    std::fs::copy(&run.trace, out.join("trace.log")).unwrap();
    std::fs::write(out.join("console.txt"), &run.outcome.console).unwrap();
    std::fs::write(
        out.join("guest-seconds"),
        format!("{:.1}\n", run.guest_seconds),
    )
    .unwrap();
    println!(
        "wear {workload:?} {recipe:?}: {:.0} s guest, {:.0} s wall",
        run.guest_seconds,
        run.outcome.elapsed.as_secs_f64()
    );
}

/// The Debian root's ext4 partition (its JFFS2 container and card: debian_root's sizes).
const DEBIAN_EXT4_BYTES: u64 = 512 << 20;
/// Each test package: this many files of incompressible bytes, like compiled programs.
const APT_PACKAGE_FILES: usize = 24;
const APT_PACKAGE_FILE_BYTES: usize = 24 << 10;

/// `workload` on the cached Debian root, imported as `flashroot import-root` does, with
/// the workload's script as init and its local packages: in a JFFS2 container on the FAT
/// card for flashroot and classic, as ext4 on the card's partition for ext4.
fn traced_debian_run(dir: &Path, recipe: Recipe, workload: Workload, seconds: u32) -> WearRun {
    let config = flashroot_config::Config::parse("wear config", &recipe.config())
        .expect("the recipe's config parses");
    let root = debian_root::imported_offline_root(&dir.join("debian-root"), &config);
    let init = root.join(APT_INIT_PATH);
    std::fs::write(&init, workload.init_script(seconds)).unwrap();
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();
    let packages = root.join(APT_DIR);
    std::fs::create_dir_all(&packages).unwrap();
    // Incompressible, and the same packages every run.
    let mut rng = flashroot_tests::Rng(0x5EED);
    for name in APT_PACKAGES {
        for version in ["1.0", "2.0"] {
            let files: Vec<Vec<u8>> = (0..APT_PACKAGE_FILES)
                .map(|_| rng.bytes(APT_PACKAGE_FILE_BYTES))
                .collect();
            debian_root::build_package(name, version, &files, dir, &packages);
        }
    }
    let card_path = dir.join("card.img");
    let init_param = format!("init=/{APT_INIT_PATH}");
    let cmdline = match recipe {
        Recipe::Ext4 => {
            ext4_disk_of_size(&root, &card_path, DEBIAN_EXT4_BYTES);
            format!("root=UUID={EXT4_UUID} rw {FAIL_FAST} {init_param}")
        }
        Recipe::Flashroot | Recipe::Classic => {
            let image = dir.join("rootfs.img");
            debian_root::container_image(&root, &image);
            card_of_size(
                &card_path,
                &[("rootfs.img", &image)],
                debian_root::CARD_BYTES,
            );
            std::fs::remove_file(&image).unwrap();
            format!("mtd {FAIL_FAST} {init_param}")
        }
    };
    std::fs::remove_dir_all(dir.join("debian-root")).unwrap();
    traced_boot(&kernel(), dir, recipe, &card_path, cmdline, seconds)
}
