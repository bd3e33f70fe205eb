//! # test-support
//!
//! What the end-to-end tests of the command-line programs share, written
//! once: stand-ins for misbehaving peers ([`fakes`]), a real etcd cluster
//! ([`etcd`]), two hosts on one machine ([`netns`]), and re-recording
//! expected files ([`bless`]).
//! Not published: nothing but tests depends on it.

#![warn(missing_docs)]

pub mod etcd;
pub mod fakes;
pub mod netns;
pub mod vm;

/// Whether the tests should re-record the expected files they compare
/// against (`BLESS=1`) instead of comparing: one variable for every
/// golden file, doc transcript and committed module.
pub fn bless() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `actual` with the expected file `expected` — or, under
/// [`bless`], writes it there — and records a difference in `failures`.
pub fn check_golden(actual: &str, expected: &std::path::Path, failures: &mut Vec<String>) {
    if bless() {
        std::fs::write(expected, actual).unwrap_or_else(|e| panic!("cannot write {}: {e}", expected.display()));
        return;
    }
    match std::fs::read_to_string(expected) {
        Ok(wanted) if wanted == actual => {}
        Ok(wanted) => failures.push(format!("== {}\n-- expected\n{wanted}\n-- actual\n{actual}", expected.display())),
        Err(_) => failures.push(format!("{}: no expected file (BLESS=1 records it)", expected.display())),
    }
}

/// Fails, listing them all, if any of `cases` golden cases differed.
pub fn assert_golden(failures: &[String], cases: usize) {
    assert!(
        failures.is_empty(),
        "{} of {cases} case(s) differ (BLESS=1 re-records):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
