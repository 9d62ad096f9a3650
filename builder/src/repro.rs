//! The one reproducibility setting of every image flashroot writes: `SOURCE_DATE_EPOCH`
//! (<https://reproducible-builds.org/specs/source-date-epoch/>), read and checked once
//! here; the format writers take plain values and never read the environment.
//!
//! Unset, the two formats differ on purpose: an initramfs's files have no meaningful times
//! (they come from the build machine), so its entries get time 0 and two builds give the
//! same bytes; a root filesystem's times are the user's data, so a JFFS2 image keeps them.
//! Set, both clamp every time to the epoch.

use std::fmt;

/// `SOURCE_DATE_EPOCH`, when the environment sets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reproducibility {
    pub source_date_epoch: Option<u32>,
}

/// `SOURCE_DATE_EPOCH` is set to something that is not seconds since 1970 in a u32 (the
/// width both cpio's and JFFS2's time fields have).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSourceDateEpoch {
    pub value: String,
}

impl fmt::Display for BadSourceDateEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SOURCE_DATE_EPOCH: expected seconds since 1970 (0 to {}), but got {:?}",
            u32::MAX,
            self.value
        )
    }
}

impl std::error::Error for BadSourceDateEpoch {}

impl Reproducibility {
    /// The setting from this process's environment.
    pub fn from_env() -> Result<Self, BadSourceDateEpoch> {
        Self::parse(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
    }

    /// The setting from a `SOURCE_DATE_EPOCH` value (None: unset).
    pub fn parse(value: Option<&str>) -> Result<Self, BadSourceDateEpoch> {
        let source_date_epoch = match value {
            None => None,
            Some(text) => Some(text.trim().parse::<u32>().map_err(|_| BadSourceDateEpoch {
                value: text.to_string(),
            })?),
        };
        Ok(Self { source_date_epoch })
    }

    /// The mtime of every initramfs (newc) entry.
    pub fn cpio_mtime(self) -> u32 {
        self.source_date_epoch.unwrap_or(0)
    }

    /// What a JFFS2 image does with its source tree's times.
    pub fn jffs2_times(self) -> flashroot_jffs2::Times {
        match self.source_date_epoch {
            Some(epoch) => flashroot_jffs2::Times::ClampTo(epoch),
            None => flashroot_jffs2::Times::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashroot_jffs2::Times;

    #[test]
    fn unset_keeps_root_times_and_zeroes_initramfs_times() {
        let r = Reproducibility::parse(None).unwrap();
        assert_eq!(r.cpio_mtime(), 0);
        assert_eq!(r.jffs2_times(), Times::Keep);
    }

    #[test]
    fn set_clamps_both_formats_to_the_epoch() {
        let r = Reproducibility::parse(Some("1700000000\n")).unwrap();
        assert_eq!(r.cpio_mtime(), 1_700_000_000);
        assert_eq!(r.jffs2_times(), Times::ClampTo(1_700_000_000));
    }

    #[test]
    fn a_bad_value_is_named() {
        let err = Reproducibility::parse(Some("yesterday")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SOURCE_DATE_EPOCH: expected seconds since 1970 (0 to 4294967295), but got \"yesterday\""
        );
    }
}
