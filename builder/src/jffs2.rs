//! JFFS2 images: the `flashroot-jffs2` crate (format core, writer, reader), and the one
//! thing the library leaves to the builder: writing an image file atomically.
//!
//! ```no_run
//! use flashroot::jffs2::{write_image, Options};
//! let opts = Options { pad_to: Some(32 << 20), ..Options::default() };
//! let report = write_image("rootfs/".as_ref(), "rootfs.jffs2".as_ref(), &opts)?;
//! println!("{report}");
//! # Ok::<(), flashroot::jffs2::WriteImageError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

pub use flashroot_jffs2::*;

use crate::atomic::{self, AtomicError};

/// Why [`write_image`] failed.
#[derive(Debug)]
pub enum WriteImageError {
    /// The tree could not be collected or laid out.
    Image { out: PathBuf, source: Error },
    /// The image file could not be written, synced or renamed into place.
    Output(AtomicError),
}

impl fmt::Display for WriteImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteImageError::Image { out, source } => {
                write!(f, "writing {}: {source}", out.display())
            }
            WriteImageError::Output(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WriteImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteImageError::Image { source, .. } => Some(source),
            WriteImageError::Output(e) => Some(e),
        }
    }
}

impl From<AtomicError> for WriteImageError {
    fn from(e: AtomicError) -> Self {
        WriteImageError::Output(e)
    }
}

impl WriteImageError {
    /// The library's error, when the image itself was the problem.
    pub fn image_error(&self) -> Option<&Error> {
        match self {
            WriteImageError::Image { source, .. } => Some(source),
            WriteImageError::Output(_) => None,
        }
    }
}

/// Writes the image of directory `src` to `out`, through a temporary file in the same
/// directory that is renamed over `out` only when the image is complete.
pub fn write_image(src: &Path, out: &Path, opts: &Options) -> Result<Report, WriteImageError> {
    let image_error = |source| WriteImageError::Image {
        out: out.into(),
        source,
    };
    let tree = tree::Tree::collect(src, opts).map_err(image_error)?;
    atomic::write_with(out, |file| {
        write_tree(&tree, &mut *file, opts).map_err(image_error)
    })
}
