//! What the fuzz targets share: reading the fuzzer's bytes as a sequence
//! of choices for the targets that build structured input from them, and
//! the wasm-smith configuration of the features Manda translates.

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
