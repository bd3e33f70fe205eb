; run: {file} 4 1000000
; threads: 1 2 4
; steps: skipped (four million loop iterations, one at a time, are too slow for a test)
; parsum W N: W contexts each sum a disjoint part of 0 … N-1 in a loop and
; send it to the first, which prints the total (defaults W = 2,
; N = 400000000). The same job as `parsum` in bench/peers/concurrency:
; `parsum 2` against `parsum 1` is the parallel speedup.
.rodata
usage:  .ascii "usage: parsum W N (W and N decimal numbers, W at least 1)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage
.data
argbuf: .zero 32
.code
main:
    li a0, 0
    li a1, 2
    call arg_number
    mov s0, v0              ; W
    li a0, 1
    li a1, 400000000
    call arg_number
    mov s1, v0              ; N
    beqz s0, .Larg_bad
    pnew a2                 ; results
    li s2, 0                ; k
.Lworkers:
    mul t0, s1, s2
    divu a0, t0, s0         ; lo = N * k / W
    addi t1, s2, 1
    mul t0, s1, t1
    divu a1, t0, s0         ; hi = N * (k + 1) / W
    fork t0, worker
    addi s2, s2, 1
    blt s2, s0, .Lworkers
    li s3, 0                ; total
    salloc 8
    getsp s4
    li s5, 8
    li s2, 0
.Lcollect:
    precv t0, a2, s4, s5
    ld64 t0, [s4]
    add s3, s3, t0
    addi s2, s2, 1
    blt s2, s0, .Lcollect
    printi s3
    halt

; worker: sends a0 + (a0 + 1) + … + (a1 - 1) to port a2.
worker:
    li v0, 0
    bge a0, a1, .Lsent
.Lsum:
    add v0, v0, a0
    addi a0, a0, 1
    blt a0, a1, .Lsum
.Lsent:
    salloc 8
    getsp t0
    st64 v0, [t0]
    li t1, 8
    psend a2, t0, t1
    halt

; arg_number: v0 = program argument a0 as a decimal number, or a1 if there
; are not that many arguments. A malformed one prints the usage line and exits 2.
arg_number:
    argc t0
    bgeu a0, t0, .Larg_default
    la t2, argbuf
    li t3, 32
    arg t4, a0, t2, t3      ; t4 = its length
    beqz t4, .Larg_bad
    bltu t3, t4, .Larg_bad  ; longer than the buffer: not a number we take
    li v0, 0
    li t5, 0                ; i
    li t8, 10
.Larg_digit:
    bge t5, t4, .Larg_done
    add t6, t2, t5
    ld8u t7, [t6]
    addi t7, t7, -48        ; - '0'
    bgeu t7, t8, .Larg_bad
    muli v0, v0, 10
    add v0, v0, t7
    addi t5, t5, 1
    jmp .Larg_digit
.Larg_done:
    ret
.Larg_default:
    mov v0, a1
    ret
.Larg_bad:
    li t0, 2                ; fd 2: standard error
    la t1, usage
    li t2, USAGE_LEN
    write t0, t1, t2
    li t0, 2
    exit t0
