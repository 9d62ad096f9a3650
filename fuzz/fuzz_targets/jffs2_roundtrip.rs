//! A small arbitrary tree, pushed entry by entry, written and read back: everything
//! written must read back (names, modes, owners, times, data, targets, device numbers,
//! extended attributes), and the image must pass the whole check. The geometry, byte
//! order and compression come from the input too.
#![no_main]

use std::collections::BTreeMap;

use flashroot_jffs2::tree::{Meta, Tree};
use flashroot_jffs2::{
    check_image, write_tree, Compression, CompressionMode, Compressor, Endian, Error, Fs, Options,
    MIN_BLOCKS,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const ERASE_SIZES: [u32; 3] = [8 << 10, 16 << 10, 64 << 10];
const MAX_ENTRIES: usize = 24;
const MAX_FILE: usize = 20_000;

/// What one path must read back as: (mode, uid, gid, mtime, contents, xattrs).
type Want = (u32, u16, u16, u32, Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

fn meta(u: &mut Unstructured) -> Result<Meta> {
    let mut xattrs = Vec::new();
    if u.ratio(1, 4)? {
        let name: Vec<u8> = format!("user.k{}", u.int_in_range(0..=9u8)?).into_bytes();
        let value: Vec<u8> = u.arbitrary()?;
        xattrs.push((name, value));
    }
    Ok(Meta {
        perm: u.int_in_range(0..=0o7777)?,
        uid: u.arbitrary()?,
        gid: u.arbitrary()?,
        atime: u.arbitrary()?,
        mtime: u.arbitrary()?,
        ctime: u.arbitrary()?,
        xattrs,
    })
}

fn name(u: &mut Unstructured) -> Result<Vec<u8>> {
    let len = u.int_in_range(1..=12)?;
    (0..len)
        .map(|_| {
            Ok(match u.int_in_range(1..=255u8)? {
                b'/' => b'_',
                b => b,
            })
        })
        .collect()
}

fn build(u: &mut Unstructured) -> Result<Option<(Tree, BTreeMap<Vec<u8>, Want>)>> {
    let root = meta(u)?;
    let mut want = BTreeMap::new();
    let mut tree = match Tree::new(root.clone()) {
        Ok(t) => t,
        Err(_) => return Ok(None),
    };
    let mut xs = root.xattrs.clone();
    xs.sort();
    want.insert(
        Vec::new(),
        (
            0o040000 | root.perm,
            root.uid,
            root.gid,
            root.mtime,
            Vec::new(),
            xs,
        ),
    );
    let mut dirs: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..u.int_in_range(0..=MAX_ENTRIES)? {
        let parent = u.choose(&dirs)?.clone();
        let mut path = parent.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend(name(u)?);
        let abs = [&b"/"[..], &path].concat();
        let m = meta(u)?;
        let (bits, content, pushed) = match u.int_in_range(0..=5u8)? {
            0 => (0o040000, Vec::new(), tree.dir(&abs, m.clone())),
            1 => {
                let len = u.int_in_range(0..=MAX_FILE)?;
                let data: Vec<u8> = if u.arbitrary()? {
                    vec![u.arbitrary()?; len]
                } else {
                    u.bytes(len.min(u.len()))?.to_vec()
                };
                (0o100000, data.clone(), tree.file(&abs, data, m.clone()))
            }
            2 => {
                let len = u.int_in_range(1..=254)?;
                let target: Vec<u8> = (0..len)
                    .map(|_| u.int_in_range(1..=255u8))
                    .collect::<Result<_>>()?;
                (
                    0o120000,
                    target.clone(),
                    tree.symlink(&abs, &target, m.clone()),
                )
            }
            3 => {
                let (block, major, minor) = (
                    u.arbitrary()?,
                    u.int_in_range(0..=4095u32)?,
                    u.int_in_range(0..=1_048_575u32)?,
                );
                let mut dev = major.to_be_bytes().to_vec();
                dev.extend(u32::to_be_bytes(minor));
                let bits = if block { 0o060000 } else { 0o020000 };
                (bits, dev, tree.device(&abs, block, major, minor, m.clone()))
            }
            4 => (0o010000, Vec::new(), tree.fifo(&abs, m.clone())),
            _ => (0o140000, Vec::new(), tree.socket(&abs, m.clone())),
        };
        match pushed {
            Ok(_) => {}
            // Names the tree refuses (taken, "." or ".."): refused, not written.
            Err(Error::Source { .. }) => continue,
            Err(e) => panic!("push {}: {e}", path.escape_ascii()),
        }
        if bits == 0o040000 {
            dirs.push(path.clone());
        }
        let mut xs = m.xattrs.clone();
        xs.sort();
        want.insert(path, (bits | m.perm, m.uid, m.gid, m.mtime, content, xs));
    }
    Ok(Some((tree, want)))
}

fn options(u: &mut Unstructured) -> Result<Options> {
    let mut compression = Compression::default();
    if u.arbitrary()? {
        compression.enable(Compressor::Lzo);
    }
    compression.mode = *u.choose(&[
        CompressionMode::Priority,
        CompressionMode::Size,
        CompressionMode::None,
    ])?;
    if compression.mode == CompressionMode::None {
        compression = Compression::none();
    }
    Ok(Options {
        erase_size: *u.choose(&ERASE_SIZES)?,
        endian: if u.arbitrary()? {
            Endian::Big
        } else {
            Endian::Little
        },
        summary: u.ratio(3, 4)?,
        compression,
        ..Options::default()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(mut opts) = options(&mut u) else {
        return;
    };
    let Ok(Some((tree, want))) = build(&mut u) else {
        return;
    };
    let mut image = Vec::new();
    match write_tree(&tree, &mut image, &opts) {
        Ok(_) => {}
        Err(Error::TooFewBlocks { .. }) => {
            opts.pad_to = Some(MIN_BLOCKS * u64::from(opts.erase_size));
            image.clear();
            write_tree(&tree, &mut image, &opts).expect("written with padding");
        }
        Err(e) => panic!("write: {e}"),
    }
    let checked = check_image(&image, Some(opts.erase_size)).expect("our image is JFFS2");
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    let fs = Fs::new(&image, &checked.scan);
    let mut got = BTreeMap::new();
    for e in fs.walk().expect("walk") {
        let content = match e.mode & 0o170000 {
            0o100000 | 0o120000 => fs.data(e.ino).expect("data"),
            0o020000 | 0o060000 => {
                let (ma, mi) = fs.device(e.ino).expect("device");
                let mut dev = ma.to_be_bytes().to_vec();
                dev.extend(mi.to_be_bytes());
                dev
            }
            _ => Vec::new(),
        };
        let xattrs = fs.xattrs(e.ino).expect("xattrs");
        got.insert(e.path, (e.mode, e.uid, e.gid, e.mtime, content, xattrs));
    }
    assert_eq!(got, want);
});
