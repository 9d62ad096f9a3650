use super::*;

#[test]
fn embedded_default_parses() {
    let c = Config::embedded_default();
    assert_eq!(c.trigger, "mtd");
}
