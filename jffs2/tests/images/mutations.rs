//! The stable stand-in for the fuzz target (fuzz/ needs nightly): many mutated images,
//! from a fixed seed, fed to the reader. It must never panic, and every mutation of our
//! own images must be reported, since every byte of them is covered by a CRC or must be
//! 0xFF.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};

use flashroot_jffs2::{scan, Fs, Options};
use flashroot_testsupport::jffs2::*;

/// Everything the CLI does with an image: scan, check, list, read every file.
fn read_everything(image: &[u8]) -> flashroot_jffs2::Result<()> {
    let s = scan(image, None)?;
    let fs_ = Fs::new(image, &s);
    let entries = fs_.walk()?;
    for e in &entries {
        let _ = fs_.data(e.ino);
        let _ = fs_.device(e.ino);
    }
    s.check()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn small_image() -> Vec<u8> {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, TreeSpec { wide: 5, ..SMALL });
    let table = t.path().join("devtable");
    fs::write(&table, devtable_text()).unwrap();
    let o = Options {
        erase_size: 16 << 10,
        pad_to: Some(16 * (16 << 10)),
        devtable: Some(table),
        ..Options::default()
    };
    let img = t.path().join("img");
    write_image(&src, &img, &o).unwrap();
    fs::read(img).unwrap()
}

#[test]
fn every_bit_flip_is_reported_and_nothing_panics() {
    let image = small_image();
    read_everything(&image).expect("the unmutated image is clean");
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for round in 0..400 {
        let mut m = image.clone();
        let at = rng.below(m.len());
        let bit = 1u8 << rng.below(8);
        m[at] ^= bit;
        let r = catch_unwind(AssertUnwindSafe(|| read_everything(&m))).unwrap_or_else(|_| {
            panic!("round {round}: reader panicked on a flip of bit {bit:#x} at {at:#x}")
        });
        assert!(
            r.is_err(),
            "round {round}: flip of bit {bit:#x} at {at:#x} went unnoticed"
        );
    }
}

#[test]
fn truncations_and_random_bytes_never_panic() {
    let image = small_image();
    let mut rng = Rng(0x00DD_BA11_5EED);
    for round in 0..200 {
        let mut m = image.clone();
        match round % 4 {
            0 => m.truncate(rng.below(m.len())),
            1 => {
                let at = rng.below(m.len());
                let len = rng.below(300).min(m.len() - at);
                for b in &mut m[at..at + len] {
                    *b = rng.next() as u8;
                }
            }
            2 => {
                // Plausible-looking lies: a node header's totlen or a summary marker's offset.
                let at = rng.below(m.len() / 4) * 4;
                let v = rng.next() as u32;
                m[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                m = (0..rng.below(70_000)).map(|_| rng.next() as u8).collect();
                if m.len() > 2 {
                    m[0] = 0x85;
                    m[1] = 0x19;
                }
            }
        }
        let r = catch_unwind(AssertUnwindSafe(|| read_everything(&m)));
        assert!(
            r.is_ok(),
            "round {round}: reader panicked on mutation kind {}",
            round % 4
        );
        if round % 4 == 1 && m != image {
            assert!(
                r.unwrap().is_err(),
                "round {round}: overwritten bytes went unnoticed"
            );
        }
    }
}
