//! flashroot library: the initramfs builder and the JFFS2 writer behind the CLI.
