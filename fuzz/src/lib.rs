//! What the fuzz targets share: reading the fuzzer's bytes as a sequence
//! of choices for the targets that build structured input from them, the
//! machine the snapshot targets restore into, and the wasm-smith
//! configuration of the features Manda translates.

/// Reads the fuzzer's bytes as choices, one byte each (zeros once they run
/// out, so every input, even an empty one, makes a whole case).
pub struct Choices<'a>(pub &'a [u8]);

impl Choices<'_> {
    /// The next byte.
    pub fn byte(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    /// The next eight bytes, big-endian.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| acc << 8 | u64::from(self.byte()))
    }

    /// True once every byte has been read.
    pub fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// wasm-smith generating modules of the features the translator supports
/// (WebAssembly 2.0: bulk memory, reference types, several tables, SIMD;
/// relaxed SIMD and tail calls), with no imports and one memory of at most 1 MiB. A table's
/// maximum is required and at most 1024 entries, so that every table can
/// grow as far as wasm lets it (the translator reserves at most
/// `TABLE_GROWTH` entries past a table's initial size).
pub fn translatable_modules() -> wasm_smith::Config {
    wasm_smith::Config {
        max_imports: 0,
        max_memories: 1,
        max_tables: 4,
        max_table_elements: 1024,
        table_max_size_required: true,
        max_memory32_bytes: 1 << 20,
        memory64_enabled: false,
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        simd_enabled: true,
        relaxed_simd_enabled: true,
        exceptions_enabled: false,
        gc_enabled: false,
        tail_call_enabled: true,
        threads_enabled: false,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        extended_const_enabled: true,
        ..wasm_smith::Config::default()
    }
}

/// True for the translator's refusal of what it does not translate yet
/// (none of what [`translatable_modules`] generates today; kept for the
/// features to come): such a module is passed over, not a finding.
/// docs/manda/wasm.md lists them.
pub fn not_translated_yet(message: &str) -> bool {
    message.contains("not supported (see docs/manda/wasm.md")
}

/// The program of the machines the snapshot targets restore into,
/// `examples`-style: a port, a heap page, a forked second context.
pub const SNAPSHOT_PROGRAM: &str = ".data\nd: .zero 64\n.code\nmain:\n    pnew t0\n    li t1, 4096\n    grow t2, t1\n    fork t3, child\n    printi t3\n    halt\nchild:\n    printi t0\n    halt\n";

/// A fresh machine of [`SNAPSHOT_PROGRAM`] (`exe`, from [`snapshot_program`],
/// built once by the caller), under a step limit and 16 MiB, its output
/// kept in memory.
pub fn snapshot_machine(exe: &manda::exe::Executable) -> manda::machine::Machine {
    use manda::machine::{Config, Machine, SharedBuf};
    let config = Config { max_steps: Some(10_000), max_memory: 16 << 20, threads: 1, ..Config::default() };
    let mut machine = Machine::new(exe, config).expect("the program loads");
    machine.set_output(Box::new(SharedBuf::default()));
    machine.set_error_output(Box::new(SharedBuf::default()));
    machine
}

/// [`SNAPSHOT_PROGRAM`], loaded.
pub fn snapshot_program() -> manda::exe::Executable {
    let (bytes, _) = manda::asm::assemble(SNAPSHOT_PROGRAM).expect("the program assembles");
    manda::exe::Executable::load(&bytes).expect("the program loads")
}

/// `bytes` with a correct CRC-32 in its last 4 bytes (when it has more),
/// so that mutations reach a snapshot decoder's structural checks rather
/// than stop at the checksum (whose own check the unit tests cover).
pub fn with_right_crc(bytes: &[u8]) -> Vec<u8> {
    let mut data = bytes.to_vec();
    if data.len() > 4 {
        let body = data.len() - 4;
        let crc = crc32fast::hash(&data[..body]);
        data[body..].copy_from_slice(&crc.to_le_bytes());
    }
    data
}
