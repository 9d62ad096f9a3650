//! Byte sizes written as a number or with a binary suffix ("64KiB", "1M").

use std::fmt;

use crate::ValueError;

/// Parses `N`, `NK`, `NKiB`, `NM`, `NMiB`, `NG`, `NGiB` (binary multiples, case-insensitive),
/// as mkfs.jffs2 accepts for `-e` and `--pad`.
pub fn parse_size(text: &str) -> Result<u64, ValueError> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(ValueError::NotASize { text: text.into() });
    }
    let too_large = || ValueError::SizeTooLarge { text: text.into() };
    let value: u64 = num.parse().map_err(|_| too_large())?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(ValueError::SizeSuffix {
                suffix: other.into(),
                text: text.into(),
            })
        }
    };
    value.checked_mul(1 << shift).ok_or_else(too_large)
}

/// Formats a byte count the way users write it: "64KiB", "1MiB", or plain bytes.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A size in bytes that deserializes from an integer or a suffixed string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size in bytes, or a string such as \"64KiB\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom(format!("size must not be negative, but got {v}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_suffixed_sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
    }

    #[test]
    fn rejects_bad_sizes_with_the_text() {
        assert!(parse_size("")
            .unwrap_err()
            .to_string()
            .contains("expected a size"));
        assert!(parse_size("64Q")
            .unwrap_err()
            .to_string()
            .contains("\"64Q\""));
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("17179869184G")
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }

    #[test]
    fn formats_round_trip() {
        for s in [8192u64, 65536, 1 << 20, 3 << 30, 1000] {
            assert_eq!(parse_size(&format_size(s)), Ok(s));
        }
        assert_eq!(format_size(65536), "64KiB");
    }
}
