; run: {file} 20000 3
; threads: 1 2 4
; steps: skipped (millions of divisions, one at a time, are too slow for a test)
; primes N W: counts the primes below N with W worker contexts (defaults
; N = 1000000, W = 2). The first context cuts 2 … N-1 into blocks of 1000
; and queues them as jobs on one port; every worker takes the next job
; (several receivers on one port: a work queue), counts the primes in it
; by trial division, and when the queue is closed and empty reports its
; total on a second port. Prints the count (78498 below a million).
.equ BLOCK, 1000
.rodata
usage:  .ascii "usage: primes N W (N and W decimal numbers, W at least 1)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage
.data
argbuf: .zero 32
.code
main:
    li a0, 0
    li a1, 1000000
    call arg_number
    mov s0, v0              ; N
    li a0, 1
    li a1, 2
    call arg_number
    mov s1, v0              ; W
    beqz s1, .Larg_bad
    pnew a1                 ; jobs
    pnew a2                 ; results
    li s2, 0
.Lworkers:
    fork t0, worker
    addi s2, s2, 1
    blt s2, s1, .Lworkers
    salloc 16
    getsp s3
    li s4, 16
    li t0, 2                ; lo
.Ljobs:
    bge t0, s0, .Lqueued
    addi t1, t0, BLOCK      ; hi = min(lo + BLOCK, N)
    blt t1, s0, .Lhi
    mov t1, s0
.Lhi:
    st64 t0, [s3]
    st64 t1, [s3 + 8]
    psend a1, s3, s4
    mov t0, t1
    jmp .Ljobs
.Lqueued:
    pclose a1               ; no more jobs: workers drain the queue, then report
    li s5, 0                ; the count
    li s2, 0
.Lresults:
    precv t0, a2, s3, s4
    ld64 t0, [s3]
    add s5, s5, t0
    addi s2, s2, 1
    blt s2, s1, .Lresults
    printi s5
    halt

; worker: takes [lo, hi) jobs from port a1 until it is closed, then sends
; the primes it counted to port a2.
worker:
    salloc 16
    getsp s3
    li s4, 16
    li s5, 0                ; primes counted
.Ljob:
    precv t0, a1, s3, s4
    li t1, 0
    blt t0, t1, .Lreport    ; -1: closed and drained
    ld64 s0, [s3]           ; n = lo
    ld64 s1, [s3 + 8]       ; hi
.Lnumber:
    bge s0, s1, .Ljob
    mov a0, s0
    call is_prime
    add s5, s5, v0
    addi s0, s0, 1
    jmp .Lnumber
.Lreport:
    st64 s5, [s3]
    psend a2, s3, s4
    halt

; is_prime: v0 = 1 if a0 is prime, else 0 (trial division by 2 and the odd numbers up to its root).
is_prime:
    li v0, 0
    li t0, 2
    blt a0, t0, .Lnot
    li v0, 1
    beq a0, t0, .Lyes
    andi t1, a0, 1
    beqz t1, .Lnot
    li t0, 3
.Ltry:
    mul t1, t0, t0
    blt a0, t1, .Lyes
    remu t2, a0, t0
    beqz t2, .Lnot
    addi t0, t0, 2
    jmp .Ltry
.Lnot:
    li v0, 0
.Lyes:
    ret

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
