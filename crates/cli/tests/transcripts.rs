//! Every ```` ```console ```` block of the README and of `docs/` is a
//! transcript that this test replays: each `$ COMMAND` line is run with
//! bash, and what it prints (stdout, then stderr) must be exactly the lines
//! that follow it, up to the next `$` line or the end of the block. A line
//! `[exit N]` after the output asserts the exit status (0 otherwise).
//!
//! `BLESS=1 cargo test -p cli --test transcripts` rewrites the
//! blocks with what the commands print now: review the diff.
//!
//! Commands run in a scratch directory that links the repository's
//! `examples/` and `bench/`, with the freshly built `mova`, `manda` and `hv`
//! first on `PATH`, so files they write land in the scratch directory. Blocks
//! whose output depends on time or PIDs are written as `text` or `sh`, not
//! `console`, and are not replayed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The Markdown files that may hold transcripts.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// One `$ COMMAND` with what it must print and its exit status, and where it is written.
struct Step {
    at: String,
    command: String,
    expected: String,
    status: i32,
}

/// A console block: its steps, and the lines it spans inside its fences.
struct Block {
    steps: Vec<Step>,
    lines: std::ops::Range<usize>,
}

fn transcripts(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.strip_prefix(repo()).unwrap().display().to_string();
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((start, line)) = lines.next() {
        if line.trim_end() != "```console" {
            continue;
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut end = start + 1;
        for (number, line) in lines.by_ref() {
            end = number;
            if line.starts_with("```") {
                break;
            }
            if let Some(command) = line.strip_prefix("$ ") {
                let at = format!("{name}:{}", number + 1);
                steps.push(Step { at, command: command.to_string(), expected: String::new(), status: 0 });
            } else if let Some(step) = steps.last_mut() {
                match line.strip_prefix("[exit ").and_then(|s| s.strip_suffix(']')) {
                    Some(status) => step.status = status.parse().unwrap(),
                    None => {
                        step.expected.push_str(line);
                        step.expected.push('\n');
                    }
                }
            }
        }
        blocks.push(Block { steps, lines: start + 1..end });
    }
    blocks
}

/// `document` with each console block's outputs replaced by `actual` (per block, per step).
fn blessed(document: &Path, blocks: &[Block], actual: &[Vec<(String, i32)>]) -> String {
    let text = std::fs::read_to_string(document).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut at = 0;
    for (block, actual) in blocks.iter().zip(actual) {
        for line in &lines[at..block.lines.start] {
            out.push_str(line);
            out.push('\n');
        }
        for (step, (printed, status)) in block.steps.iter().zip(actual) {
            out.push_str(&format!("$ {}\n{printed}", step.command));
            if *status != 0 {
                out.push_str(&format!("[exit {status}]\n"));
            }
        }
        at = block.lines.end;
    }
    for line in &lines[at..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn every_console_block_in_the_docs_replays_exactly() {
    let bin = Path::new(env!("CARGO_BIN_EXE_hv")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let bless = test_support::bless();
    let mut replayed = 0;
    let mut failures = Vec::new();
    for document in documents() {
        let blocks = transcripts(&document);
        let mut actual = Vec::new();
        for (index, block) in blocks.iter().enumerate() {
            let mut block_actual = Vec::new();
            // Each block starts in a fresh directory: its commands build on each other, not on other blocks.
            let name = format!("{}-{index}", document.file_stem().unwrap().to_string_lossy());
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("doc-transcripts").join(name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for linked in ["examples", "bench"] {
                std::os::unix::fs::symlink(repo().join(linked), dir.join(linked)).unwrap();
            }
            for step in &block.steps {
                let out = Command::new("bash")
                    .args(["-c", &step.command])
                    .current_dir(&dir)
                    .env("PATH", &path)
                    .env("MOVA_LISTEN", "127.0.0.1:0")
                    .env("MOVA_RUNTIME_DIR", dir.join("runtime"))
                    .env_remove("MOVA_TOKEN")
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                let printed =
                    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                let status = out.status.code().unwrap_or(-1);
                block_actual.push((printed.clone(), status));
                if printed != step.expected || status != step.status {
                    failures.push(format!(
                        "{}: $ {}\n-- documented (exit {})\n{}-- actual (exit {status})\n{printed}",
                        step.at, step.command, step.status, step.expected
                    ));
                }
                replayed += 1;
            }
            actual.push(block_actual);
        }
        if bless && !blocks.is_empty() {
            std::fs::write(&document, blessed(&document, &blocks, &actual)).unwrap();
        }
    }
    if bless {
        return;
    }
    assert!(failures.is_empty(), "{} documented command(s) differ:\n\n{}", failures.len(), failures.join("\n"));
    assert!(replayed >= 20, "only {replayed} documented commands were replayed");
}
