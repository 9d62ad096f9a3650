//! Arbitrary bytes into the JFFS2 reader: scan, check, list, read every inode. It must
//! never panic; errors are fine. The erase size comes from the first byte, so that small
//! inputs exercise several geometries.
#![no_main]

use flashroot_jffs2::{scan, Fs};
use libfuzzer_sys::fuzz_target;

/// Erase sizes the first input byte selects (None: detect from the summaries).
const ERASE_SIZES: [Option<u32>; 4] = [None, Some(4096), Some(8192), Some(16384)];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, image)) = data.split_first() else {
        return;
    };
    let erase = ERASE_SIZES[selector as usize % ERASE_SIZES.len()];
    let Ok(s) = scan(image, erase) else {
        return;
    };
    let _ = s.check();
    let fs = Fs::new(image, &s);
    if let Ok(entries) = fs.walk() {
        for e in entries {
            let _ = fs.data(e.ino);
            let _ = fs.device(e.ino);
        }
    }
});
