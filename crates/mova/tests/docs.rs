//! `docs/mova/opcodes.md` is generated from the instruction table; this
//! fails when they differ. Re-record with `BLESS=1 cargo test -p mova --test docs`.

#[test]
fn opcode_reference_matches_the_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/mova/opcodes.md");
    let generated = mova::isa::opcodes_markdown();
    if test_support::bless() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/mova/opcodes.md is out of date; run BLESS=1 cargo test -p mova --test docs");
}
