//! QEMU boot harness.
