//! Shared by the golden-file tests: run every case of a folder and compare
//! (or, with `MANDA_BLESS=1`, re-record) its `.expected` file.

#![allow(dead_code)] // Each test file uses a different part.

use std::path::Path;
use std::process::Command;

/// The `manda` binary, with its control port on an ephemeral loopback port
/// and its registry entry in a test directory, so parallel runs neither
/// compete for port 34567 nor touch the user's runtime directory.
pub fn manda_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_manda"));
    let runtime = Path::new(env!("CARGO_TARGET_TMPDIR")).join("manda-runtime");
    command.env("MOVA_LISTEN", "127.0.0.1:0").env("MOVA_RUNTIME_DIR", runtime).env_remove("MOVA_TOKEN");
    command
}

/// Runs `run(name)` for every `NAME{ext}` in `cases` and compares the
/// result with `expected/NAME.expected`; one failure lists every case that differs.
pub fn check_cases(cases: &Path, ext: &str, expected: &Path, run: impl Fn(&str) -> String) {
    let bless = std::env::var_os("MANDA_BLESS").is_some();
    let mut names: Vec<String> = std::fs::read_dir(cases)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(ext).map(str::to_string))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {ext} cases in {}", cases.display());
    let mut failures = Vec::new();
    for name in &names {
        let actual = run(name);
        let expected_path = expected.join(format!("{name}.expected"));
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let wanted = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != wanted {
            failures.push(format!("== {}\n-- expected\n{wanted}\n-- actual\n{actual}", expected_path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ (MANDA_BLESS=1 re-records):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
