//! flashroot-jffs2 (being split out of the builder; see issue #14).
