//! flashroot-kmod (being split out of the builder; see issue #14).
