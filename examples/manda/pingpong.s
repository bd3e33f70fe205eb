; run: {file} 1000
; threads: 1 2 4
; pingpong N: N round trips of one 8-byte value between two contexts; the
; second adds 1 each time. Prints N (default N = 1000000). The same job as
; `pingpong` in bench/peers/concurrency.
.rodata
usage:  .ascii "usage: pingpong N (N a decimal number)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage
.data
argbuf: .zero 32
value:  .zero 8
.code
main:
    li a0, 0
    li a1, 1000000
    call arg_number
    mov s0, v0              ; N
    pnew a1                 ; ping
    pnew a2                 ; pong
    fork t0, ponger
    la s3, value
    li s4, 8
    li s1, 0                ; round trips done
    beqz s0, .Ldone
.Lround:
    psend a1, s3, s4        ; the value goes out…
    precv t0, a2, s3, s4    ; …and comes back one larger
    addi s1, s1, 1
    blt s1, s0, .Lround
.Ldone:
    pclose a1               ; the ponger sees -1 and ends
    ld64 t0, [s3]
    printi t0
    halt

; ponger: answers every value on a1 with value + 1 on a2, until a1 closes.
ponger:
    la s3, value
    li s4, 8
.Lanswer:
    precv t0, a1, s3, s4
    li t1, 0
    blt t0, t1, .Lend
    ld64 t1, [s3]
    addi t1, t1, 1
    st64 t1, [s3]
    psend a2, s3, s4
    jmp .Lanswer
.Lend:
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
