//! Every WASI preview 1 function, called from hand-written WebAssembly
//! (`wasi/every_call.wat`) through the real `manda run --invoke`, with a
//! granted directory and an environment: each scenario's exact result.
//! The same functions from C, through wasi-libc, are `manda-wasm_c`'s
//! `files_and_directories_behave_as_in_the_native_build` and
//! `no_path_leads_out_of_a_granted_directory`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("manda-wasi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `every_call.wat` encoded, written once however many tests run at once
/// (a test that read it while another rewrote it read a truncated module).
fn module() -> PathBuf {
    static MODULE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MODULE
        .get_or_init(|| {
            let wat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda/wasi/every_call.wat");
            let path = scratch().join("every_call.wasm");
            std::fs::write(&path, common::wasm(&std::fs::read_to_string(wat).unwrap())).unwrap();
            path
        })
        .clone()
}

/// Invokes `export` with a fresh granted directory holding `f.txt` = "hello".
fn invoke(module: &Path, export: &str) -> Output {
    let dir = scratch().join(format!("dir-{export}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f.txt"), "hello").unwrap();
    let grant = format!("{}::/d", dir.display());
    common::manda_command()
        .args(["run", "--dir", &grant, "--env", "A=1", "--env", "B=2", "--invoke", export])
        .arg(module)
        .output()
        .unwrap()
}

/// Each scenario and what it prints (its result, after anything it writes).
const SCENARIOS: &[(&str, &str)] = &[
    ("args_sizes_get", "1"),
    ("args_get", "109"), // the `m` ending argv[0], `every_call.wasm`
    ("environ_sizes_get", "2"),
    ("environ_get", "66"), // `B`
    ("clock_res_get", "0"),
    ("clock_res_get_bad", "28"), // inval
    ("clock_time_get", "1"),
    ("clock_time_get_bad", "28"),
    ("fd_advise", "0"),
    ("fd_advise_bad", "28"),
    ("fd_allocate", "100"),
    ("fd_close", "0"),
    ("fd_close_bad", "8"), // badf
    ("fd_datasync", "0"),
    ("fd_sync", "0"),
    ("fd_fdstat_get", "4"),       // a regular file
    ("fd_fdstat_set_flags", "1"), // append
    ("fd_fdstat_set_flags_bad", "28"),
    ("fd_fdstat_set_rights", "76"), // notcapable: the read right was given up
    ("fd_filestat_get", "5"),
    ("fd_filestat_set_size", "2"),
    ("fd_filestat_set_times", "7"),
    ("fd_pread", "4"),
    ("fd_prestat_get", "2"), // `/d`
    ("fd_prestat_get_bad", "8"),
    ("fd_prestat_dir_name", "100"), // `d`
    ("fd_pwrite", "89"),            // `Y` of helXY
    ("fd_read", "5"),
    ("fd_readdir", "80"),         // ., .. and f.txt: 24-byte headers and their names
    ("fd_readdir_cookie", "293"), // f.txt's 29 bytes, its d_next 3
    ("fd_renumber", "8"),
    ("fd_renumber_bad", "8"),
    ("fd_seek", "3"),
    ("fd_seek_bad", "28"),
    ("fd_seek_stdout", "76"), // standard output has no right to seek
    ("fd_tell", "3"),
    ("fd_write", "hi\n3"),
    ("fd_write_fault", "21"),        // fault
    ("path_create_directory", "20"), // exist, the second time
    ("path_filestat_get", "4"),
    ("path_filestat_set_times", "9"),
    ("path_link", "2"),
    ("path_open_missing", "44"), // noent
    ("path_open_create", "4"),
    ("path_symlink", "0"),
    ("path_readlink", "5"),
    ("path_remove_directory", "44"),
    ("path_rename", "44"),
    ("path_unlink_file", "44"),
    ("poll_oneoff", "142"), // one event, userdata 42
    ("poll_oneoff_none", "28"),
    ("proc_raise", "52"), // nosys
    ("sched_yield", "0"),
    ("random_get", "0"),
    ("random_get_fault", "21"),
    ("sock_accept", "52"),
    ("sock_recv", "52"),
    ("sock_send", "52"),
    ("sock_shutdown", "52"),
];

#[test]
fn every_wasi_function_does_what_its_scenario_expects() {
    let module = module();
    let mut wrong = Vec::new();
    for (export, expected) in SCENARIOS {
        let out = invoke(&module, export);
        let printed = String::from_utf8_lossy(&out.stdout);
        if printed != format!("{expected}\n") || !out.status.success() {
            wrong.push(format!(
                "{export}: printed {printed:?}, exit {:?}, stderr {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_function_of_the_witx_has_a_scenario() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manda/wasi/every_call.wat")).unwrap();
    for f in manda_wasi::FUNCTIONS {
        assert!(
            text.contains(&format!("(call ${} ", f.name)) || text.contains(&format!("(call ${})", f.name)),
            "{} is never called",
            f.name
        );
    }
}

#[test]
fn proc_exit_ends_the_program_with_its_status() {
    let out = invoke(&module(), "proc_exit");
    assert_eq!(out.stdout, b"");
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn a_grant_that_cannot_be_opened_is_refused_before_the_program_runs() {
    let out = common::manda_command()
        .args(["run", "--dir", "/no/such/dir::/d", "--invoke", "sched_yield"])
        .arg(module())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "manda: --dir /no/such/dir: No such file or directory (os error 2)\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = common::manda_command()
        .args(["run", "--env", "NOVALUE", "--invoke", "sched_yield"])
        .arg(module())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "manda: --env NOVALUE: expected NAME=VALUE\n");
    assert_eq!(out.status.code(), Some(1));
}
