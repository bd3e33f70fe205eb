; Label headers: named, quoted, anonymous; assembler-only .L labels; targets.
.code
main:
    call "helper fn"
    jmp .Lskip
    nop
.Lskip:
    beqz a0, next
    .label
    bnez a0, .Lafter_anon
.Lafter_anon:
"a0":
next:
    la t0, "helper fn"
    callr t0
    halt
"helper fn":
    ret
.code
second_section:
    jmp main
