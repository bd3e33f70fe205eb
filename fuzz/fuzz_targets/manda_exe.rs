//! The Manda executable loader on arbitrary bytes: never a panic; what it
//! accepts encodes back to the same bytes, its disassembly assembles back
//! to the same executable, and the machine's decoded code maps every
//! item's address to its index and back as the items decoded one by one
//! say (it keeps no table of addresses: it counts the loader's start bits).
#![no_main]
use libfuzzer_sys::fuzz_target;
use manda::exe::{Executable, Item, SectionKind};

fuzz_target!(|data: &[u8]| {
    let Ok(exe) = Executable::load(data) else { return };
    assert_eq!(exe.to_bytes(), data, "load then encode is the identity");
    let text = manda::disasm::disassemble(&exe);
    let (bytes, _) =
        manda::asm::assemble(&text).unwrap_or_else(|e| panic!("the disassembly does not assemble: {e:?}\n{text}"));
    let again = Executable::load(&bytes).expect("what the assembler writes loads");
    assert_eq!(again.to_bytes(), exe.to_bytes(), "disasm then asm is the identity\n{text}");

    let code = manda::machine::Code::new(&exe);
    let mut index = 0usize;
    for section in exe.sections.iter().filter(|s| s.kind == SectionKind::Code) {
        for item in section.items() {
            assert_eq!(code.index_of(item.addr()), Some(index as u32), "item at 0x{:x}", item.addr());
            let starts_instr = matches!(item, Item::Instr { .. });
            assert_eq!(code.instr_index(item.addr()), starts_instr.then_some(index as u32));
            if let Item::Instr { addr, instr } = item {
                assert_eq!(code.addr_of(index), addr);
                assert_eq!(code.instr(index), Some(instr));
                index += 1;
            }
        }
        assert_eq!(code.addr_of(index), section.end(), "a section's End is at its end");
        assert_eq!(code.instr(index), None);
        assert_eq!(code.index_of(section.end()), None, "a section's end is no target");
        assert_eq!(code.instr_index(section.end()), None);
        index += 1;
    }
    assert_eq!(code.ops.len(), index);
});
