; run: --max-call-depth 5 {file}
; Unbounded recursion: the 6th nested call traps.
.code
main:
    li a0, 0
recurse:
    addi a0, a0, 1
    printi a0
    call recurse
    halt
