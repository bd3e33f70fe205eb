//! The three binaries' command lines document themselves: every argument of
//! every subcommand has a description, `help` works at every level, and
//! shell completions and man pages are generated from the same definitions.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

/// `mova`, `manda` and `hv`, built side by side by `cargo test --workspace`.
fn binaries() -> Vec<(&'static str, PathBuf)> {
    let dir = common::hv_path().parent().unwrap().to_path_buf();
    ["mova", "manda", "hv"]
        .into_iter()
        .map(|name| {
            let path = dir.join(name);
            assert!(path.exists(), "{} is missing: run the tests with `cargo test --workspace`", path.display());
            (name, path)
        })
        .collect()
}

fn run(binary: &PathBuf, args: &[&str]) -> Output {
    Command::new(binary).args(args).env_remove("MOVA_TOKEN").output().unwrap()
}

/// The subcommands `BINARY --help` lists.
fn subcommands(binary: &PathBuf) -> Vec<String> {
    let help = String::from_utf8(run(binary, &["--help"]).stdout).unwrap();
    let commands = help.split("Commands:\n").nth(1).unwrap().split("\n\n").next().unwrap();
    commands.lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect()
}

#[test]
fn every_argument_of_every_subcommand_is_described() {
    for (name, binary) in binaries() {
        for sub in subcommands(&binary) {
            let out = run(&binary, &[&sub, "-h"]);
            assert!(out.status.success(), "{name} {sub} -h");
            let help = String::from_utf8(out.stdout).unwrap();
            for section in ["Arguments:\n", "Options:\n"] {
                let Some(rest) = help.split(section).nth(1) else { continue };
                for entry in rest.split("\n\n").next().unwrap().lines().filter(|l| !l.starts_with("          ")) {
                    let described = entry.trim_start().split("  ").filter(|s| !s.trim().is_empty()).count() >= 2;
                    assert!(described, "{name} {sub}: `{}` has no description", entry.trim());
                }
            }
        }
    }
}

#[test]
fn help_works_at_every_level() {
    for (name, binary) in binaries() {
        let out = run(&binary, &["help", "--help"]);
        assert_eq!(out.status.code(), Some(0), "{name} help --help");
        for sub in subcommands(&binary) {
            let out = run(&binary, &["help", &sub]);
            assert_eq!(out.status.code(), Some(0), "{name} help {sub}");
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(text.contains(&format!("Usage: {name} {sub}")), "{name} help {sub}:\n{text}");
        }
        let out = run(&binary, &["help", "no-such-command"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("{name}: no subcommand `no-such-command` (`{name} help` lists them)\n")
        );
    }
}

#[test]
fn completions_and_man_pages_are_generated() {
    for (name, binary) in binaries() {
        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            let out = run(&binary, &["completions", shell]);
            assert!(out.status.success(), "{name} completions {shell}");
            let script = String::from_utf8(out.stdout).unwrap();
            for sub in subcommands(&binary) {
                assert!(script.contains(&sub), "{name} completions {shell} lacks `{sub}`");
            }
        }
        let out = run(&binary, &["man"]);
        assert!(out.status.success(), "{name} man");
        let page = String::from_utf8(out.stdout).unwrap();
        assert!(page.contains(&format!(".TH {name} 1")), "{name} man:\n{}", &page[..200.min(page.len())]);
        assert!(page.contains(".SH SUBCOMMANDS"));
    }
}
