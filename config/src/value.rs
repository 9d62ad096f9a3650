//! Why one value (a size, a path, a device, a word) is refused. The value travels in the
//! error; the caller adds the file, line and key ([`ConfigError`](crate::ConfigError)) or
//! the command-line flag.

use std::fmt;

use crate::format_size;

/// A value that does not parse or is out of range, with the value as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// No digits where a size was expected.
    NotASize { text: String },
    /// A size beyond `u64` bytes.
    SizeTooLarge { text: String },
    /// A size whose suffix is not K/KiB, M/MiB or G/GiB.
    SizeSuffix { suffix: String, text: String },
    /// A path that must be absolute.
    NotAbsolute { path: String },
    /// A path on the card that is empty or climbs out with `..`.
    NotOnCard { path: String },
    /// An erase size below `min` bytes.
    EraseSizeTooSmall { bytes: u64, min: u64 },
    /// An erase size that is not a power of two.
    EraseSizeNotPowerOfTwo { bytes: u64 },
    /// An erase size beyond `u32`.
    EraseSizeTooLarge { bytes: u64 },
    /// `LABEL=`, `UUID=` or `PARTUUID=` with nothing after it.
    EmptyDeviceValue { kind: &'static str },
    /// Not one of the ways of naming a block device.
    NotADevice { text: String },
    /// A backslash escape of the compact form other than `\\`, `\t`, `\n`, `\r`.
    Escape { got: String },
    /// A word that is none of `choices` (already written as a list: "move or detach").
    NotAChoice { choices: String, got: String },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotASize { text } => {
                write!(
                    f,
                    "expected a size such as 65536 or 64KiB, but got {text:?}"
                )
            }
            Self::SizeTooLarge { text } => write!(f, "size {text:?} is too large"),
            Self::SizeSuffix { suffix, text } => write!(
                f,
                "unknown size suffix {suffix:?} in {text:?} (use K/KiB, M/MiB or G/GiB)"
            ),
            Self::NotAbsolute { path } => write!(
                f,
                "expected an absolute path (starting with /), but got {path:?}"
            ),
            Self::NotOnCard { path } => write!(
                f,
                "expected a file path on the card such as \"rootfs.img\", but got {path:?}"
            ),
            Self::EraseSizeTooSmall { bytes, min } => write!(
                f,
                "erase size must be at least {} but got {}",
                format_size(*min),
                format_size(*bytes)
            ),
            Self::EraseSizeNotPowerOfTwo { bytes } => write!(
                f,
                "erase size must be a power of two (such as 64KiB), but got {}",
                format_size(*bytes)
            ),
            Self::EraseSizeTooLarge { bytes } => {
                write!(f, "erase size {} is too large", format_size(*bytes))
            }
            Self::EmptyDeviceValue { kind } => {
                write!(f, "{kind}= needs a value, as in {kind}=...")
            }
            Self::NotADevice { text } => write!(
                f,
                "expected a device path (/dev/sda1), LABEL=, UUID= or PARTUUID=, but got {text:?}"
            ),
            Self::Escape { got } => {
                write!(
                    f,
                    "expected an escape \\\\, \\t, \\n or \\r, but got {got:?}"
                )
            }
            Self::NotAChoice { choices, got } => write!(f, "expected {choices}, but got {got:?}"),
        }
    }
}

impl std::error::Error for ValueError {}
