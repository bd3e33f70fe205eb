//! WASI calls with hostile arguments: a program's memory and a sequence of
//! calls (function number and nine argument values each) from the input,
//! run against a machine's WASI state that is granted one scratch
//! directory. No call may panic or hang; every error is an errno. Then the
//! state is saved, and the input's tail restored as a saved state: the
//! decoder must refuse or take it, never panic.

#![no_main]
use libfuzzer_sys::fuzz_target;
use manda_wasi::{Grants, Guest, Preopen, Wasi};

struct Memory(Vec<u8>);

impl Guest for Memory {
    fn memory_size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_memory(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(buf.len() as u64).filter(|&e| e <= self.0.len() as u64) else { return false };
        buf.copy_from_slice(&self.0[offset as usize..end as usize]);
        true
    }
    fn write_memory(&mut self, offset: u64, bytes: &[u8]) -> bool {
        let Some(end) = offset.checked_add(bytes.len() as u64).filter(|&e| e <= self.0.len() as u64) else { return false };
        self.0[offset as usize..end as usize].copy_from_slice(bytes);
        true
    }
    fn write_output(&mut self, _fd: u32, _bytes: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn read_input(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
    fn monotonic_ns(&self) -> u64 {
        0
    }
}

fuzz_target!(|data: &[u8]| {
    let scratch = std::env::temp_dir().join(format!("wasi-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(scratch.join("d")).unwrap();
    std::fs::write(scratch.join("f"), b"contents").unwrap();
    let grants = Grants {
        args: vec![b"fuzz".to_vec()],
        env: vec![b"A=1".to_vec()],
        dirs: vec![Preopen { host: scratch.clone(), guest: ".".into() }],
    };
    let mut wasi = Wasi::new(&grants).unwrap();
    // Memory: the first 4 KiB of input (paths, iovecs, …), zero-padded to 64 KiB.
    let (memory, rest) = data.split_at(data.len().min(4096));
    let mut mem = Memory(memory.to_vec());
    mem.0.resize(65536, 0);
    let mut calls = rest.chunks_exact(1 + 9 * 4);
    for call in calls.by_ref().take(64) {
        let number = call[0] % 46;
        // Never sleep for long nor exit: poll_oneoff with clocks, proc_exit.
        if number == 37 || number == 38 {
            continue;
        }
        let args: Vec<u64> = call[1..].chunks_exact(4).map(|a| u64::from(u32::from_le_bytes(a.try_into().unwrap()))).collect();
        let _ = wasi.call(number, &args, &mut mem);
    }
    if let Ok(state) = wasi.save() {
        // Refused only for a file the calls renamed or removed, never a panic.
        let _ = wasi.restore(&state);
    }
    let _ = wasi.restore(calls.remainder());
    let _ = std::fs::remove_dir_all(&scratch);
});
