//! Prints the embedded default in compact form, the text of `config/default.conf`:
//! `cargo run -p flashroot-config --example compact_default > config/default.conf`.

fn main() {
    print!(
        "{}",
        flashroot_config::Config::embedded_default().to_compact()
    );
}
