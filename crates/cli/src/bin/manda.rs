//! `manda`: run, assemble and disassemble Manda executables.
//!
//! A thin layer over the `manda` library; see `docs/manda/` for the
//! machine and the formats. Exit statuses: the program's own when it runs
//! to its end (`halt` is 0, `exit N` is N); 1 for a file that cannot be
//! read, assembled or loaded; 2 for a bad command line; 3 for a trap.

use clap::{Args, CommandFactory, Parser, Subcommand};
use cli::translation_cache::{self, Part};
use cli::ControlArgs;
use cli::DocsCommand;
use cli::{print_err, print_out, print_streamed, read_at_most, MAX_INPUT_FILE};
use manda::diag::{render, Severity};
use manda::exe::Executable;
use manda::machine::{Config, Machine, Tier};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vm_host::host;

/// Contexts are made on one thread and often freed on another; mimalloc
/// frees across threads without the lock contention of the system allocator.
/// It is built without transparent huge pages (`no_thp`): with them, a few
/// live bytes in a region held 2 MiB of resident memory, and a program
/// under `--max-memory 32M` that built code until the limit held 63 MiB
/// (51 MiB without). A machine's memory is its own 4 KiB pages anyway.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gives the memory the allocator holds freed back to the system. Loading
/// frees large buffers in waves (a translation's bodies, then the decoded
/// file); the allocator would keep them for a while, beside the next wave,
/// and a module translated under `--max-memory 256M` held 328 MiB (183 MiB
/// with this).
fn return_freed_memory() {
    // SAFETY: mi_collect only walks the allocator's own free lists.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[derive(Parser)]
#[command(
    name = "manda",
    version,
    about = "Manda: a 64-bit register machine — run, assemble, disassemble",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an executable, an assembly source (`.s`, assembled first) or a WebAssembly module (`.wasm`,
    /// translated first).
    ///
    /// Arguments after FILE go to the program (`argc`, `arg`; a module's WASI arguments), or with
    /// --invoke to the function called. The exit
    /// status is the program's (`halt`: 0, `exit N`: N mod 256); a trap
    /// prints `trap: …` on stderr and exits 3.
    Run(Box<RunArgs>),
    /// Assemble a source file (docs/manda/assembly.md) into an executable.
    Asm {
        /// The assembly source.
        file: PathBuf,
        /// Where to write the executable.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Translate a WebAssembly module into a Manda executable (docs/manda/wasm.md).
    Wasm {
        /// The module (`.wasm`).
        file: PathBuf,
        /// Where to write the executable.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Call this exported function (with the arguments after --) instead of `_start`, printing its
        /// results; or print the value of this exported global.
        #[arg(long, value_name = "FUNC")]
        invoke: Option<String>,
        /// The arguments of --invoke.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
        /// Link the module MODULE in first, as `manda run --preload` does; repeatable.
        #[arg(long = "preload", value_name = "NAME=MODULE.wasm")]
        preloads: Vec<String>,
    },
    /// Link WebAssembly modules into one, as `manda run --preload` does, and write it: the same program for any
    /// runtime.
    Link {
        /// The module whose imports the others satisfy.
        file: PathBuf,
        /// A module whose exported functions become the imports named NAME; repeatable.
        #[arg(long = "preload", value_name = "NAME=MODULE.wasm", required = true)]
        preloads: Vec<String>,
        /// Where to write the linked module.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Print an executable as assembly that assembles back to the identical bytes.
    Disasm {
        /// The executable, or an assembly source (`.s`, assembled first).
        file: PathBuf,
    },
    /// Print the instruction reference (docs/manda/OPCODES.md) generated from the table.
    Opcodes,
    #[command(flatten)]
    Docs(DocsCommand),
}

#[derive(Args)]
struct RunArgs {
    /// Stop with a trap (exit 3) after this many instructions.
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// Memory limit for the whole machine: pages written, page tables, contexts, call stacks and queued messages
    /// together; no context's address space may pass it either (suffixes K, M, G: powers of 1024).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "1G")]
    max_memory: u64,
    /// OS threads that run the program's contexts (default: one per core; one for a program with no `fork` that starts with one context). With 1 every run is the same.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Most ports `pnew` may create.
    #[arg(long, value_name = "N", default_value_t = Config::default().max_ports)]
    max_ports: u32,
    /// Most contexts alive at once, the first one included (`fork` past it traps).
    #[arg(long, value_name = "N", default_value_t = Config::default().max_contexts,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_contexts: u32,
    /// Most bytes queued in all ports together, each message counting 64 more than its length (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "256M")]
    max_port_bytes: u64,
    /// Stack size (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "1M")]
    stack_size: u64,
    /// Most nested calls.
    #[arg(long, value_name = "N", default_value_t = Config::default().max_call_depth)]
    max_call_depth: u32,
    /// Print each executed instruction, its address and the registers it wrote, on stderr.
    #[arg(long)]
    trace: bool,
    /// Which engine runs the program (tests and benchmarks only): `compiled` (the default: hot code
    /// compiled to native code by Cranelift, where it has a backend), `compile-all` (every region
    /// compiled at its first run), or the interpreter alone — `fused`,
    /// `plain` (no superinstructions) or `steps` (one instruction at a time, through the tracing
    /// path, with the trace discarded). The program's behaviour is the same in every mode.
    #[arg(long, hide = true, value_enum, default_value_t = ExecMode::Compiled)]
    exec: ExecMode,
    /// Print what the compiling tier compiled (regions, instructions, compile time, code bytes) on
    /// stderr at the end, one line, for benchmarks; regions still compiling then are not counted.
    #[arg(long, hide = true)]
    compile_stats: bool,
    /// For a WebAssembly module: call this exported function with the arguments after FILE (integers
    /// or floats, by the function's parameter types; a v128 as 0x and up to 32 hex digits) and print
    /// its results, one a line (a v128 as 0x and 32 hex digits); or, with no arguments, print the
    /// value of this exported global.
    #[arg(long, value_name = "FUNC")]
    invoke: Option<String>,
    /// Grant a WebAssembly program the directory HOST, which it sees as GUEST (default: HOST as given); repeatable.
    /// Nothing else of the host's files is reachable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set an environment variable of a WebAssembly program (it sees no other); repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Link the WebAssembly module MODULE first: what it exports (functions, globals, tables, its memory) becomes the
    /// imports named NAME of the module run; repeatable.
    #[arg(long = "preload", value_name = "NAME=MODULE.wasm")]
    preloads: Vec<String>,
    #[command(flatten)]
    control: ControlArgs,
    /// The executable, `.s` source or `.wasm` module, then the program's arguments: everything after FILE is the
    /// program's, options included (`manda run prog.s --trace` passes `--trace` to the program).
    #[arg(value_name = "FILE [ARGS]", required = true, num_args = 1.., trailing_var_arg = true)]
    program: Vec<String>,
}

/// The execution modes (`--exec`): the compiled tier, or one of the interpreter's.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExecMode {
    Compiled,
    CompileAll,
    Fused,
    Plain,
    Steps,
}

impl RunArgs {
    /// FILE, the first of [`program`](Self::program).
    fn file(&self) -> PathBuf {
        PathBuf::from(&self.program[0])
    }
}

/// `123`, `64K`, `16M`, `1G` (powers of 1024), at most 256 TiB (an address
/// space's largest, [`manda::machine::MAX_SPACE`]).
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("unknown unit `{unit}` (use K, M or G)")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a size such as 4096, 64K, 16M, 1G"))?;
    n.checked_mul(1 << shift)
        .filter(|&size| size <= manda::machine::MAX_SPACE)
        .ok_or_else(|| format!("`{text}` is more than 256 TiB (262144G), the largest size manda takes"))
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => return run(*args),
        Command::Asm { file, output } => assemble(&file).and_then(|bytes| {
            std::fs::write(&output, bytes).map_err(|e| format!("cannot write {}: {e}", output.display()))
        }),
        Command::Link { file, preloads, output } => linked(&file, &preloads).and_then(|bytes| {
            std::fs::write(&output, bytes).map_err(|e| format!("cannot write {}: {e}", output.display()))
        }),
        Command::Wasm { file, output, invoke, args, preloads } => {
            translate(&file, invoke.as_deref(), &args, None, &preloads).and_then(|bytes| {
                std::fs::write(&output, bytes).map_err(|e| format!("cannot write {}: {e}", output.display()))
            })
        }
        Command::Disasm { file } => load(&file, None, None, &[]).and_then(|exe| {
            print_streamed(|out| manda::disasm::disassemble_to(&exe, out))
                .map_err(|e| format!("cannot write output: {e}"))
        }),
        Command::Opcodes => stdout(&manda::isa::opcodes_markdown()),
        Command::Docs(docs) => docs.run(Cli::command()),
    };
    match result {
        Ok(()) => {
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(message) => {
            if !message.is_empty() {
                print_err(&format!("manda: {message}\n"));
            }
            ExitCode::FAILURE
        }
    }
}

/// Writes a command's whole output to stdout (a reader that stops early is fine).
fn stdout(text: &str) -> Result<(), String> {
    print_out(text).map_err(|e| format!("cannot write output: {e}"))
}

/// Assembles `file`, printing its diagnostics; `Err("")` when they are already printed.
fn assemble(file: &Path) -> Result<Vec<u8>, String> {
    let bytes = read_at_most(file, MAX_INPUT_FILE, "a source file")?;
    let name = file.display().to_string();
    let source = String::from_utf8(bytes)
        .map_err(|e| format!("{name}: not UTF-8 text: invalid byte at offset {}", e.utf8_error().valid_up_to()))?;
    match manda::asm::assemble(&source) {
        Ok((bytes, warnings)) => {
            print_err(&render(&warnings, &name, &source));
            Ok(bytes)
        }
        Err(err) => {
            let errors = err.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
            print_err(&render(&err.diagnostics, &name, &source));
            Err(format!("{name}: {errors} error(s); nothing written"))
        }
    }
}

/// Whether `file` is a WebAssembly module: named `.wasm`, or starting with wasm's magic number.
fn is_wasm(file: &Path) -> bool {
    if file.extension().is_some_and(|e| e == "wasm") {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(file).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok()
        && magic == *b"\0asm"
}

/// The module `file` and its `--preload` modules (`NAME=MODULE.wasm`), each read once.
fn read_modules(file: &Path, preloads: &[String]) -> Result<(Vec<u8>, Vec<manda_wasm::Preload>), String> {
    let wasm = read_at_most(file, MAX_INPUT_FILE, "a WebAssembly module")?;
    let mut modules = Vec::new();
    for spec in preloads {
        let Some((name, path)) = spec.split_once('=') else {
            return Err(format!("--preload {spec}: expected NAME=MODULE.wasm"));
        };
        let bytes = read_at_most(Path::new(path), MAX_INPUT_FILE, "a WebAssembly module")?;
        modules.push(manda_wasm::Preload { name: name.to_string(), wasm: bytes });
    }
    Ok((wasm, modules))
}

/// `wasm` (read from `file`) with `modules` linked in.
fn link_modules(file: &Path, wasm: Vec<u8>, modules: &[manda_wasm::Preload]) -> Result<Vec<u8>, String> {
    if modules.is_empty() {
        return Ok(wasm);
    }
    manda_wasm::link(&wasm, modules).map_err(|e| format!("{}: {e}", file.display()))
}

/// The module `file` with `preloads` (`NAME=MODULE.wasm`) linked in.
fn linked(file: &Path, preloads: &[String]) -> Result<Vec<u8>, String> {
    let (wasm, modules) = read_modules(file, preloads)?;
    link_modules(file, wasm, &modules)
}

/// Translates a WebAssembly module into an executable's bytes, holding at most `memory_limit` bytes.
fn translate(
    file: &Path,
    invoke: Option<&str>,
    args: &[String],
    memory_limit: Option<u64>,
    preloads: &[String],
) -> Result<Vec<u8>, String> {
    translate_module(&linked(file, preloads)?, file, invoke, args, memory_limit)
}

/// Translates the module `wasm` (read from `file`) into an executable's bytes.
fn translate_module(
    wasm: &[u8],
    file: &Path,
    invoke: Option<&str>,
    args: &[String],
    memory_limit: Option<u64>,
) -> Result<Vec<u8>, String> {
    let options = manda_wasm::Options {
        invokes: invoke
            .map(|f| manda_wasm::Invoke {
                name: f.to_string(),
                args: args.iter().map(|a| manda_wasm::Arg::Text(a.clone())).collect(),
            })
            .into_iter()
            .collect(),
        memory_limit,
        ..Default::default()
    };
    manda_wasm::translate(wasm, &options).map_err(|e| format!("{}: {e}", file.display()))
}

/// Loads an executable, or assembles a `.s` source or translates a `.wasm`
/// module first (within `memory_limit`, a machine's `--max-memory`).
fn load(
    file: &Path,
    invoke: Option<(&str, &[String])>,
    memory_limit: Option<u64>,
    preloads: &[String],
) -> Result<Executable, String> {
    let bytes = if file.extension().is_some_and(|e| e == "s") {
        assemble(file)?
    } else if is_wasm(file) {
        let (name, args) = (invoke.map(|i| i.0), invoke.map_or(&[][..], |i| i.1));
        // A module translated before, by this build, with the same preloads and --invoke: its executable.
        let key = |module: Part, preloads: &[(&str, Part)]| {
            let mut parts = vec![module];
            for (name, preload) in preloads {
                parts.extend([Part::Bytes(b"preload"), Part::Bytes(name.as_bytes()), *preload]);
            }
            if let Some(name) = name {
                parts.extend([Part::Bytes(b"invoke"), Part::Bytes(name.as_bytes())]);
                parts.extend(args.iter().map(|a| Part::Bytes(a.as_bytes())));
            }
            translation_cache::key(&parts)
        };
        // An entry that does not decode is translated again, and replaced.
        let cached = |dir: &Path, entry: &str| {
            let bytes = read_at_most(&dir.join(entry), MAX_INPUT_FILE, "an executable").ok()?;
            Executable::from_vec_within(bytes, memory_limit.unwrap_or(u64::MAX)).ok()
        };
        let cache = translation_cache::dir();
        let mut looked_up = None;
        if let Some(dir) = &cache {
            let preload_files: Option<Vec<_>> =
                preloads.iter().map(|spec| spec.split_once('=').map(|(n, p)| (n, Part::File(Path::new(p))))).collect();
            looked_up = preload_files.and_then(|preloads| key(Part::File(file), &preloads));
            if let Some(exe) = looked_up.as_deref().and_then(|entry| cached(dir, entry)) {
                return Ok(exe);
            }
        }
        let (wasm, modules) = read_modules(file, preloads)?;
        // Named by what was read, which may differ from what was hashed above
        // (or could not be hashed unread: a pipe).
        let preload_bytes: Vec<_> = modules.iter().map(|m| (m.name.as_str(), Part::Bytes(&m.wasm))).collect();
        let cache = cache.and_then(|dir| Some((dir, key(Part::Bytes(&wasm), &preload_bytes)?)));
        drop(preload_bytes);
        if let Some((dir, entry)) = cache.as_ref().filter(|(_, entry)| looked_up.as_ref() != Some(entry)) {
            if let Some(exe) = cached(dir, entry) {
                return Ok(exe);
            }
        }
        let wasm = link_modules(file, wasm, &modules)?;
        drop(modules);
        let bytes = translate_module(&wasm, file, name, args, memory_limit)?;
        drop(wasm);
        return_freed_memory();
        if let Some((dir, entry)) = &cache {
            translation_cache::store(dir, entry, &bytes);
        }
        bytes
    } else {
        read_at_most(file, MAX_INPUT_FILE, "an executable")?
    };
    // Text where an executable should be (judged by its first 64 KiB): most
    // likely assembly under another name.
    let head = &bytes[..bytes.len().min(64 << 10)];
    let text = !head.is_empty()
        && !head.contains(&0)
        && std::str::from_utf8(head).map_or_else(|e| e.error_len().is_none(), |_| true);
    // The file's bytes become the sections' own: a large section is never held twice.
    let exe = Executable::from_vec_within(bytes, memory_limit.unwrap_or(u64::MAX)).map_err(|e| match text {
        true => format!(
            "{}: this is text, not an executable (it would be read as one: {e}); assemble it with \
                 `manda asm`, or name it .s",
            file.display()
        ),
        false => format!("{}: {e}", file.display()),
    })?;
    Ok(exe)
}

/// `manda run`: the program's exit status, 1 if it cannot start, 3 on a trap.
fn run(args: RunArgs) -> ExitCode {
    // An executable larger than the memory limit is refused before it is read.
    let file = args.file();
    let wasm = is_wasm(&file);
    if args.invoke.is_some() && !wasm {
        print_err(&format!("manda: {}: --invoke needs a WebAssembly module\n", file.display()));
        return ExitCode::from(2);
    }
    if file.extension().is_none_or(|e| e != "s") && !wasm {
        if let Ok(meta) = std::fs::metadata(&file) {
            if meta.len() > args.max_memory {
                print_err(&format!(
                    "manda: {}: the program needs at least {} bytes of memory (its image alone), more than the limit of {}\n",
                    file.display(),
                    meta.len(),
                    args.max_memory
                ));
                return ExitCode::FAILURE;
            }
        }
    }
    let invoke_args = args.program[1..].to_vec();
    let invoke = args.invoke.as_deref().map(|f| (f, invoke_args.as_slice()));
    let exe = match load(&file, invoke, Some(args.max_memory), &args.preloads) {
        Ok(loaded) => loaded,
        Err(message) => {
            if !message.is_empty() {
                print_err(&format!("manda: {message}\n"));
            }
            return ExitCode::FAILURE;
        }
    };
    let config = Config {
        stack_size: args.stack_size,
        max_memory: args.max_memory,
        max_steps: args.max_steps,
        max_call_depth: args.max_call_depth,
        max_ports: args.max_ports,
        max_contexts: args.max_contexts,
        max_port_bytes: args.max_port_bytes,
        threads: args.threads.map_or(0, usize::from),
        tier: match args.exec {
            ExecMode::Compiled => Tier::Compiled,
            ExecMode::CompileAll => Tier::CompileAll,
            _ => Tier::Interpreted,
        },
    };
    let mut machine = match Machine::new(&exe, config) {
        Ok(machine) => machine,
        Err(e) => {
            print_err(&format!("manda: {}: {e}\n", file.display()));
            return ExitCode::FAILURE;
        }
    };
    // The machine has its own copy of the image: the loaded sections are not kept for the run.
    drop(exe);
    if args.invoke.is_none() {
        machine.set_args(args.program[1..].to_vec());
    }
    let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let program_args = if args.invoke.is_none() { &args.program[1..] } else { &[] };
    let grants = manda_wasi::Grants {
        args: std::iter::once(&name).chain(program_args).map(|a| a.clone().into_bytes()).collect(),
        env: args.env.iter().map(|v| v.clone().into_bytes()).collect(),
        dirs: args.dirs.iter().map(|d| manda_wasi::Preopen::parse(d)).collect(),
    };
    match manda_wasi::Wasi::new(&grants) {
        Ok(wasi) => machine.set_wasi(wasi),
        Err(e) => {
            print_err(&format!("manda: {e}\n"));
            return ExitCode::FAILURE;
        }
    }
    if std::io::stdout().is_terminal() {
        machine.set_output(Box::new(std::io::LineWriter::new(std::io::stdout())));
    }
    if args.trace {
        machine.set_trace(Some(Box::new(std::io::BufWriter::new(std::io::stderr()))));
    } else if args.exec == ExecMode::Steps {
        machine.set_trace(Some(Box::new(std::io::sink())));
    }
    if matches!(args.exec, ExecMode::Plain | ExecMode::Steps) {
        machine.disable_fusion();
    }
    // The identity a snapshot carries, so that the registry and the snapshots agree.
    let program_hash = vm_core::hex(&machine.program_hash());
    let options = match args.control.options(file.display().to_string(), program_hash) {
        Ok(options) => options,
        Err(why) => {
            print_err(&format!("manda: {why}\n"));
            return ExitCode::FAILURE;
        }
    };
    let status = host::run(&mut machine, options, args.control.restore.as_deref());
    if args.compile_stats {
        let stats = machine.compile_stats().unwrap_or_default();
        print_err(&format!(
            "compiled: {} regions, {} instructions, {:.3} s, {} bytes of code\n",
            stats.regions,
            stats.instructions,
            stats.time.as_secs_f64(),
            stats.code_bytes
        ));
    }
    // The machine's output is flushed and the hypervisor's files are gone:
    // exit without freeing its memory page by page, which the system takes
    // back whole (on a heap of some megabytes that took milliseconds), and
    // without the exit handlers, of which the allocator's returns its free
    // pages to the system one range at a time (a millisecond on a large
    // program, for memory the exit gives back anyway).
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` ends the process at once; everything that must reach
    // a file was written and flushed above.
    unsafe { libc::_exit(i32::from(status)) }
}
