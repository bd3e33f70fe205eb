//! Golden conformance tests: every program in `tests/programs/` is run
//! through the real `mova` binary and its exit status, stdout and stderr are
//! compared with the `.expected` file beside it.
//!
//! - `NAME.masm`, `NAME.mv`: source files, used as they are;
//! - `NAME.hex`: bytecode written as hex (`#` comments), turned into `NAME.mova` first;
//! - a leading comment line `; args: …` / `// args: …` / `# args: …` gives the command line,
//!   with `{file}` for the program (default: `run {file}`).
//!
//! Re-record the expectations after a reviewed change with
//! `BLESS=1 cargo test -p cli --test mova-conformance`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mova/programs")
}

/// Decodes the hex text of a `.hex` case into bytes.
fn hex_to_bytes(text: &str) -> Vec<u8> {
    let digits: String =
        text.lines().map(|l| l.split('#').next().unwrap_or("")).collect::<String>().split_whitespace().collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit")).collect()
}

/// Runs one case; returns its transcript.
fn run_case(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable case");
    let args_line = text
        .lines()
        .take_while(|l| l.starts_with([';', '/', '#']))
        .find_map(|l| l.trim_start_matches([';', '/', '#']).trim().strip_prefix("args:").map(|a| a.trim().to_string()));
    let (dir, file) = if path.extension().is_some_and(|e| e == "hex") {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let name = path.with_extension("mova").file_name().expect("name").to_string_lossy().into_owned();
        std::fs::write(dir.join(&name), hex_to_bytes(&text)).expect("write bytecode");
        (dir, name)
    } else {
        (programs_dir(), path.file_name().expect("name").to_string_lossy().into_owned())
    };
    let args = args_line.unwrap_or_else(|| "run {file}".to_string());
    let output = Command::new(env!("CARGO_BIN_EXE_mova"))
        .current_dir(&dir)
        .env("MOVA_LISTEN", "127.0.0.1:0")
        .env("MOVA_RUNTIME_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime"))
        .args(args.split_whitespace().map(|a| a.replace("{file}", &file)))
        .output()
        .expect("mova runs");
    let mut transcript = String::new();
    let _ = writeln!(transcript, "exit status: {}", output.status.code().map_or("signal".into(), |c| c.to_string()));
    let _ = write!(transcript, "--- stdout\n{}", String::from_utf8_lossy(&output.stdout));
    let _ = write!(transcript, "--- stderr\n{}", String::from_utf8_lossy(&output.stderr));
    transcript
}

#[test]
fn programs_match_their_expected_transcripts() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(programs_dir())
        .expect("programs dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "masm" || e == "mv" || e == "hex"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "expected the whole corpus, found {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expected = case.with_extension(format!("{}.expected", case.extension().unwrap().to_string_lossy()));
        test_support::check_golden(&run_case(case), &expected, &mut failures);
    }
    test_support::assert_golden(&failures, cases.len());
}
