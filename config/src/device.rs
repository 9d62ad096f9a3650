//! References to block devices as users write them: a path, `LABEL=`, `UUID=`, `PARTUUID=`.

use std::fmt;
use std::str::FromStr;

use crate::ValueError;

/// One way of naming a block device. Parsed once here; the init resolves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceRef {
    /// `/dev/sda1`: a node under /dev (waited for by name).
    Path(String),
    /// `LABEL=...`: the filesystem label (for FAT: the volume label in the boot sector).
    Label(String),
    /// `UUID=...`: the filesystem id (for FAT: the volume serial, written `1234-ABCD`).
    Uuid(String),
    /// `PARTUUID=...`: the GPT partition GUID, or the MBR `SSSSSSSS-PP` form.
    PartUuid(String),
}

impl FromStr for DeviceRef {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let nonempty = |kind: &'static str, v: &str| {
            if v.is_empty() {
                Err(ValueError::EmptyDeviceValue { kind })
            } else {
                Ok(v.to_string())
            }
        };
        if let Some(v) = s.strip_prefix("LABEL=") {
            Ok(Self::Label(nonempty("LABEL", v)?))
        } else if let Some(v) = s.strip_prefix("UUID=") {
            Ok(Self::Uuid(nonempty("UUID", v)?))
        } else if let Some(v) = s.strip_prefix("PARTUUID=") {
            Ok(Self::PartUuid(nonempty("PARTUUID", v)?))
        } else if s.starts_with('/') && s.len() > 1 {
            Ok(Self::Path(s.to_string()))
        } else {
            Err(ValueError::NotADevice { text: s.into() })
        }
    }
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => f.write_str(p),
            Self::Label(v) => write!(f, "LABEL={v}"),
            Self::Uuid(v) => write!(f, "UUID={v}"),
            Self::PartUuid(v) => write!(f, "PARTUUID={v}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for DeviceRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("/dev/sda1".parse(), Ok(DeviceRef::Path("/dev/sda1".into())));
        assert_eq!("LABEL=CARD".parse(), Ok(DeviceRef::Label("CARD".into())));
        assert_eq!(
            "UUID=1234-ABCD".parse(),
            Ok(DeviceRef::Uuid("1234-ABCD".into()))
        );
        assert_eq!(
            "PARTUUID=0badcafe-01".parse(),
            Ok(DeviceRef::PartUuid("0badcafe-01".into()))
        );
    }

    #[test]
    fn rejects_what_is_not_a_device() {
        assert!("sda1"
            .parse::<DeviceRef>()
            .unwrap_err()
            .to_string()
            .contains("\"sda1\""));
        assert!("LABEL="
            .parse::<DeviceRef>()
            .unwrap_err()
            .to_string()
            .contains("LABEL="));
    }

    #[test]
    fn displays_as_written() {
        for s in ["/dev/vda1", "LABEL=A B", "UUID=1-2", "PARTUUID=x"] {
            assert_eq!(s.parse::<DeviceRef>().unwrap().to_string(), s);
        }
    }
}
