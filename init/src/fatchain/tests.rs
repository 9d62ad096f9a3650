use std::path::PathBuf;
use std::process::Command;

use super::*;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (mtools and dosfstools are required)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("flashroot-fatchain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The clusters whose FAT entry is 0.
fn free_clusters(layout: &Layout, volume: &[u8]) -> usize {
    let e = layout.entry_bytes() as usize;
    (FIRST_CLUSTER..layout.clusters + FIRST_CLUSTER)
        .filter(|&c| {
            let at = layout.fat_start as usize + c as usize * e;
            volume[at..at + e].iter().all(|b| *b == 0)
        })
        .count()
}

/// `clusters` clusters, each starting with its index: a chain read right visits them
/// in order.
fn stamped(clusters: usize, cluster_bytes: usize) -> Vec<u8> {
    let mut bytes = vec![0x5Au8; clusters * cluster_bytes];
    for i in 0..clusters {
        bytes[i * cluster_bytes..][..16].copy_from_slice(format!("cluster {i:08}").as_bytes());
    }
    bytes
}

/// Peer tools as oracles: mkfs.fat lays the volume out, mtools writes a file that must
/// be fragmented (it fills a hole another file left, then goes on past the file after
/// it); the chain read from the FAT visits the file's clusters in order.
fn chain_of_a_fragmented_file(fat_bits: &str, sectors_per_cluster: &str, size_kib: u32) {
    let dir = scratch(fat_bits);
    let img = dir.join("v.img");
    run(Command::new("mkfs.fat")
        .args(["-C", "-F", fat_bits, "-s", sectors_per_cluster])
        .arg(&img)
        .arg(size_kib.to_string()));
    let volume = std::fs::read(&img).unwrap();
    let layout = Layout::parse(&volume).expect("a FAT16/32 layout");
    let cb = layout.cluster_bytes as usize;
    let put = |name: &str, bytes: &[u8]| {
        let host = dir.join(name);
        std::fs::write(&host, bytes).unwrap();
        run(Command::new("mcopy")
            .arg("-i")
            .arg(&img)
            .arg(&host)
            .arg(format!("::{name}")));
    };
    // A hole of 5 clusters, then a file filling all but 7 of the free clusters: a
    // 12-cluster file must take the hole and the 7, whatever order mtools allocates in.
    put("hole", &vec![1u8; 5 * cb]);
    let free = free_clusters(&layout, &std::fs::read(&img).unwrap());
    put("after", &vec![2u8; (free - 7) * cb]);
    run(Command::new("mdel").arg("-i").arg(&img).arg("::hole"));
    let clusters = 12;
    put("file", &stamped(clusters, cb));
    let volume = std::fs::read(&img).unwrap();
    let first = (0..)
        .map(|c| c + FIRST_CLUSTER)
        .find(|&c| volume[layout.offset_of(c) as usize..].starts_with(b"cluster 00000000"))
        .unwrap();
    let read = |at: u64, buf: &mut [u8]| {
        buf.copy_from_slice(&volume[at as usize..at as usize + buf.len()]);
        Ok(())
    };
    let chain = layout.chain(first, clusters, read).unwrap();
    let runs = chain.windows(2).filter(|w| w[1] != w[0] + 1).count() + 1;
    assert!(
        runs >= 2,
        "{fat_bits}: the file is not fragmented: {chain:?}"
    );
    for (i, c) in chain.iter().enumerate() {
        let at = layout.offset_of(*c) as usize;
        assert_eq!(
            &volume[at..at + 16],
            format!("cluster {i:08}").as_bytes(),
            "FAT{fat_bits}: cluster {i} of the chain {chain:?}"
        );
        assert_eq!(layout.cluster_at(at as u64), Some(*c));
    }
    // One cluster more than the file has: the chain's end is an error, not garbage.
    let err = layout.chain(first, clusters + 1, read).unwrap_err();
    assert!(err.to_string().contains("the chain ends"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fat16_chain_follows_a_fragmented_file() {
    chain_of_a_fragmented_file("16", "4", 16384);
}

#[test]
fn fat32_chain_follows_a_fragmented_file() {
    chain_of_a_fragmented_file("32", "1", 40960);
}

#[test]
fn fat12_and_garbage_have_no_layout() {
    let dir = scratch("12");
    let img = dir.join("small.img");
    run(Command::new("mkfs.fat")
        .args(["-C", "-F", "12"])
        .arg(&img)
        .arg("1024"));
    assert_eq!(Layout::parse(&std::fs::read(&img).unwrap()), None);
    assert_eq!(Layout::parse(&[0u8; 512]), None);
    std::fs::remove_dir_all(&dir).unwrap();
}
