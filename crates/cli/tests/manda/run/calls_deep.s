; run: --stack-size 4M {file}
; steps: skipped (200,000 calls deep, one at a time, are too slow for a test)
; A recursion 200,000 calls deep and back: the call stack crosses from one
; 64 Ki-frame chunk into the next and back again, and every return lands.
.code
main:
    li a0, 200000
    call sum_to
    printi v0               ; 200000 * 200001 / 2 = 20000100000
    halt

; sum_to: v0 = a0 + (a0 - 1) + … + 1
sum_to:
    beqz a0, .Lzero
    push s0
    mov s0, a0
    addi a0, a0, -1
    call sum_to
    add v0, v0, s0
    pop s0
    ret
.Lzero:
    li v0, 0
    ret
