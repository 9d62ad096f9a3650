//! flashroot-testsupport (being split out of the builder; see issue #14).
