//! The squashfs superblock, at the volume's first byte (little-endian). It has neither
//! UUID nor label: such a root is named by path or PARTUUID.

use super::{u16_le, FsInfo, FsKind};

pub const MAGIC_VALUE: &[u8; 4] = b"hsqs";
pub const VERSION_MAJOR: usize = 28;
/// The only version Linux mounts (squashfs 4.0, since 2.6.29).
pub const KERNEL_VERSION_MAJOR: u16 = 4;

pub fn probe(b: &[u8]) -> Option<FsInfo> {
    if b.get(..MAGIC_VALUE.len())? != MAGIC_VALUE
        || u16_le(b, VERSION_MAJOR)? < KERNEL_VERSION_MAJOR
    {
        return None;
    }
    Some(FsInfo {
        kind: FsKind::Squashfs,
        uuid: None,
        label: None,
    })
}
