//! Differential: wasm-smith modules of the features Manda translates, run
//! on Manda and on wasmi, must agree. Every exported function whose
//! parameters and results are numbers or vectors is called in turn with arguments
//! from the input; each call's results (bits; any NaN equals any NaN, as
//! wasm lets NaN payloads differ) or trap must be the same on both. A call
//! that runs out of steps or fuel, or past either engine's call depth, ends
//! the comparison: the engines count those differently. When Manda's
//! metered run ends within its budget, the same translation run in compiled
//! code (every region compiled, nothing counted) must print the same and end
//! with the same trap. `FUZZ_TRACE=1`
//! prints each input's calls and how each engine ended them.
#![no_main]
use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use manda::exe::Executable;
use manda::machine::{Config, Machine, SharedBuf, Tier};
use manda_wasm::{translate, Arg, Invoke, Options};
use wasmi::{Engine, Linker, Module, Store, TrapCode, Val, ValType};

/// How a call ended, in terms both engines share.
#[derive(Debug, PartialEq)]
enum Ended {
    Returned(Vec<Bits>),
    Trapped(&'static str),
    /// Out of steps or fuel, or past the call depth: not compared.
    Exhausted,
}

/// A result's bits; NaNs compare equal whatever their payload.
#[derive(Debug)]
enum Bits {
    Int(u64),
    F32(u32),
    F64(u64),
    /// A v128: equal when each 32-bit lane, or each 64-bit lane, is equal
    /// or a NaN on both sides (its lanes may be floats of either width).
    V128(u128),
}

impl PartialEq for Bits {
    fn eq(&self, other: &Bits) -> bool {
        match (self, other) {
            (Bits::Int(a), Bits::Int(b)) => a == b,
            (Bits::F32(a), Bits::F32(b)) => a == b || (f32::from_bits(*a).is_nan() && f32::from_bits(*b).is_nan()),
            (Bits::F64(a), Bits::F64(b)) => a == b || (f64::from_bits(*a).is_nan() && f64::from_bits(*b).is_nan()),
            (Bits::V128(a), Bits::V128(b)) => {
                let lanes32 = (0..4).all(|i| Bits::F32((a >> (32 * i)) as u32) == Bits::F32((b >> (32 * i)) as u32));
                let lanes64 = (0..2).all(|i| Bits::F64((a >> (64 * i)) as u64) == Bits::F64((b >> (64 * i)) as u64));
                lanes32 || lanes64
            }
            _ => false,
        }
    }
}

fn bits(ty: &ValType, raw: u64) -> Bits {
    match ty {
        ValType::I32 => Bits::Int(raw as u32 as u64),
        ValType::F32 => Bits::F32(raw as u32),
        ValType::F64 => Bits::F64(raw),
        _ => Bits::Int(raw),
    }
}

fn wasmi_trap(code: TrapCode) -> Option<&'static str> {
    Some(match code {
        TrapCode::UnreachableCodeReached => "unreachable",
        TrapCode::MemoryOutOfBounds => "out of bounds memory access",
        // A call through a table past its end is *undefined element* in
        // the spec's words and Manda's; wasmi names both that and a
        // `table.get` past the end this.
        TrapCode::TableOutOfBounds => "out of bounds table access",
        TrapCode::IndirectCallToNull => "uninitialized element",
        TrapCode::BadSignature => "indirect call type mismatch",
        TrapCode::IntegerDivisionByZero => "integer divide by zero",
        TrapCode::IntegerOverflow => "integer overflow",
        TrapCode::BadConversionToInteger => "invalid conversion to integer",
        _ => return None,
    })
}

fn manda_trap(message: &str) -> Option<&'static str> {
    if message.starts_with("undefined element") {
        return Some("out of bounds table access");
    }
    [
        "out of bounds table access",
        "unreachable",
        "out of bounds memory access",
        "undefined element",
        "uninitialized element",
        "indirect call type mismatch",
        "integer divide by zero",
        "integer overflow",
        "invalid conversion to integer",
    ]
    .into_iter()
    .find(|m| message.starts_with(m))
}

/// Instantiates on wasmi and makes the calls, until one does not return
/// (a trap in the start function is the first call's); `None` if wasmi
/// refuses the module.
fn on_wasmi(wasm: &[u8], calls: &[(String, Vec<u128>)]) -> Option<Vec<Ended>> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, wasm).ok()?;
    let mut store = Store::new(&engine, ());
    store.set_fuel(1_000_000).ok()?;
    let linker = <Linker<()>>::new(&engine);
    let instance = match linker.instantiate_and_start(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) => {
            let code = e.as_trap_code()?;
            return Some(vec![wasmi_trap(code).map_or(Ended::Exhausted, Ended::Trapped)]);
        }
    };
    let mut ended = Vec::new();
    for (name, args) in calls {
        store.set_fuel(1_000_000).ok()?;
        let func = instance.get_func(&store, name)?;
        let ty = func.ty(&store);
        let params: Vec<Val> = ty
            .params()
            .iter()
            .zip(args)
            .map(|(t, &a)| match t {
                ValType::I32 => Val::I32(a as i32),
                ValType::I64 => Val::I64(a as i64),
                ValType::F32 => Val::F32(f32::from_bits(a as u32).into()),
                ValType::V128 => Val::V128(a.into()),
                _ => Val::F64(f64::from_bits(a as u64).into()),
            })
            .collect();
        let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for_ty(*t)).collect();
        let end = match func.call(&mut store, &params, &mut results) {
            Ok(()) => Ended::Returned(
                results
                    .iter()
                    .map(|v| match v {
                        Val::I32(x) => Bits::Int(*x as u32 as u64),
                        Val::I64(x) => Bits::Int(*x as u64),
                        Val::F32(x) => Bits::F32(x.to_bits()),
                        Val::F64(x) => Bits::F64(x.to_bits()),
                        Val::V128(x) => Bits::V128(x.as_u128()),
                        _ => Bits::Int(0),
                    })
                    .collect(),
            ),
            Err(e) => match e.as_trap_code().and_then(wasmi_trap) {
                Some(trap) => Ended::Trapped(trap),
                None => Ended::Exhausted,
            },
        };
        let stop = !matches!(end, Ended::Returned(_));
        ended.push(end);
        if stop {
            break;
        }
    }
    Some(ended)
}

/// Translates with the calls as invocations and runs on Manda: each call's
/// end, until one does not return (a trap in the start function is the
/// first call's).
/// How each call ended on Manda; `None` for a module passed over (what the
/// translator does not translate yet).
fn on_manda(wasm: &[u8], calls: &[(String, Vec<u128>)], types: &[(Vec<ValType>, Vec<ValType>)]) -> Option<Vec<Ended>> {
    let arg = |t: &ValType, a: u128| match t {
        ValType::V128 => Arg::V128(a),
        _ => Arg::Bits(a as u64),
    };
    let options = Options {
        invokes: calls
            .iter()
            .zip(types)
            .map(|((name, args), (params, _))| Invoke {
                name: name.clone(),
                args: params.iter().zip(args).map(|(t, &a)| arg(t, a)).collect(),
            })
            .collect(),
        raw_results: true,
        instantiate_only: true,
        ..Default::default()
    };
    let bytes = match translate(wasm, &options) {
        Ok(bytes) => bytes,
        // Limits the docs name (registers for one function's locals and stack).
        Err(e) if e.message.contains("registers for") || e.message.contains("operand stack is") => {
            return Some(vec![Ended::Exhausted])
        }
        // Not a finding, and no calls to compare.
        Err(e) if mova_manda_fuzz::not_translated_yet(&e.message) => return None,
        Err(e) => panic!("a module wasmi runs was refused: {e}"),
    };
    let exe = Executable::load(&bytes).expect("the translation loads");
    let run = |tier: Tier| {
        let max_steps = (tier == Tier::Interpreted).then_some(5_000_000);
        let config = Config { threads: 1, max_call_depth: 1000, max_steps, tier, ..Config::default() };
        let mut m = Machine::new(&exe, config).ok()?;
        let out = SharedBuf::default();
        m.set_output(Box::new(out.clone()));
        m.set_error_output(Box::new(SharedBuf::default()));
        let trap = m.run().err().map(|t| t.kind.to_string());
        Some((trap, out.contents()))
    };
    let Some((trap, out)) = run(Tier::Interpreted) else { return Some(vec![Ended::Exhausted]) };
    // Compiled code is charged to the memory limit, so where a module runs
    // out of memory may move: not compared.
    let uncompared = |trap: &Option<String>| trap.as_deref().is_some_and(|t| t.starts_with("step limit") || t.starts_with("out of memory"));
    if !uncompared(&trap) {
        let compiled = run(Tier::CompileAll);
        if !compiled.as_ref().is_some_and(|c| uncompared(&c.0)) {
            assert_eq!(compiled, Some((trap.clone(), out.clone())), "compiled code ended differently");
        }
    }
    let text = String::from_utf8(out).expect("text");
    let mut ended = Vec::new();
    let mut current = Vec::new();
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        match line.trim_end() {
            "" => {
                let words = std::mem::take(&mut current);
                let mut at = 0;
                let mut results = Vec::new();
                for t in &types[ended.len()].1 {
                    results.push(match t {
                        // A v128 prints as its two halves, low first.
                        ValType::V128 => {
                            at += 2;
                            Bits::V128(u128::from(words[at - 2]) | u128::from(words[at - 1]) << 64)
                        }
                        t => {
                            at += 1;
                            bits(t, words[at - 1])
                        }
                    });
                }
                ended.push(Ended::Returned(results));
            }
            v => {
                if let Some(v) = v.strip_prefix('=') {
                    current.push(v.parse::<i64>().expect("a raw result") as u64);
                }
            }
        }
    }
    if let Some(trap) = trap {
        ended.push(manda_trap(&trap).map_or(Ended::Exhausted, Ended::Trapped));
    }
    Some(ended)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let config = wasm_smith::Config {
        export_everything: true,
        min_funcs: 1,
        max_funcs: 8,
        // Relaxed SIMD's results are the engine's choice: Manda's and
        // wasmi's may differ and both be right.
        relaxed_simd_enabled: false,
        ..mova_manda_fuzz::translatable_modules()
    };
    let Ok(module) = wasm_smith::Module::new(config, &mut u) else { return };
    let wasm = module.to_bytes();
    // The calls: every numeric function export, with arguments from the input.
    let Ok(parsed) = wasmi::Module::new(&Engine::default(), &wasm) else { return };
    let mut calls = Vec::new();
    let mut result_types = Vec::new();
    for export in parsed.exports() {
        let wasmi::ExternType::Func(ty) = export.ty() else { continue };
        let numeric = |t: &ValType| matches!(t, ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64 | ValType::V128);
        if !ty.params().iter().all(numeric) || !ty.results().iter().all(numeric) {
            continue;
        }
        let args: Vec<u128> = ty
            .params()
            .iter()
            .map(|t| match t {
                ValType::V128 => u.arbitrary::<u128>().unwrap_or(0),
                _ => u128::from(u.arbitrary::<u64>().unwrap_or(0)),
            })
            .collect();
        calls.push((export.name().to_string(), args));
        result_types.push((ty.params().to_vec(), ty.results().to_vec()));
    }
    let Some(wasmi_ended) = on_wasmi(&wasm, &calls) else { return };
    let Some(manda_ended) = on_manda(&wasm, &calls, &result_types) else { return };
    if std::env::var_os("FUZZ_TRACE").is_some() {
        eprintln!("calls {calls:?}\n  manda {manda_ended:?}\n  wasmi {wasmi_ended:?}");
    }
    for (i, (a, b)) in manda_ended.iter().zip(&wasmi_ended).enumerate() {
        if *a == Ended::Exhausted || *b == Ended::Exhausted {
            return;
        }
        let call = calls.get(i).map_or("the start function", |c| c.0.as_str());
        assert_eq!(a, b, "call {i} ({call}) differs (Manda, then wasmi); arguments {:?}", calls.get(i).map(|c| &c.1));
        if !matches!(a, Ended::Returned(_)) {
            return;
        }
    }
    assert_eq!(manda_ended.len(), wasmi_ended.len(), "one engine made more calls");
});
