//! `docs/manda/OPCODES.md` is generated from the instruction table; this
//! fails when they differ. Re-record with `BLESS=1 cargo test -p manda --test docs`.

#[test]
fn opcodes_md_matches_the_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/manda/OPCODES.md");
    let generated = manda::isa::opcodes_markdown();
    if test_support::bless() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/manda/OPCODES.md is out of date: BLESS=1 cargo test -p manda --test docs");
}
