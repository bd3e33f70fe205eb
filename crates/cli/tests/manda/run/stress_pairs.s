; run: --max-ports 6000 {file}
; threads: 1 2 4
; steps: skipped (a million messages, one at a time, are too slow for a test)
; 10,000 contexts exchange 1,000,000 messages: 5,000 pairs, each a sender
; that sends 200 numbered messages to its own port and a receiver that
; checks every one arrives once, in order, from its sender, then reports a
; checksum. Prints the total (5000 * (0 + 1 + ... + 199) = 99500000), the
; messages received (1000000) and the errors found (0).
.equ PAIRS, 5000
.equ COUNT, 200
.code
main:
    pnew a1                 ; results
    li s0, 0
    li s1, PAIRS
.Lpair:
    pnew a2                 ; this pair's port
    mov a3, s0              ; the pair's number
    fork t0, sender
    fork t0, receiver
    addi s0, s0, 1
    blt s0, s1, .Lpair
    li s2, 0                ; checksum
    li s3, 0                ; messages
    li s4, 0                ; errors
    salloc 24
    getsp s5
    li s6, 24
    li s0, 0
.Lcollect:
    precv t0, a1, s5, s6
    ld64 t1, [s5]
    add s2, s2, t1
    ld64 t1, [s5 + 8]
    add s3, s3, t1
    ld64 t1, [s5 + 16]
    add s4, s4, t1
    addi s0, s0, 1
    blt s0, s1, .Lcollect
    printi s2
    printi s3
    printi s4
    halt

sender:
    salloc 16
    getsp s5
    st64 a3, [s5]           ; who sends
    li s0, 0
    li s1, COUNT
    li s6, 16
.Lsend:
    st64 s0, [s5 + 8]       ; the sequence number
    psend a2, s5, s6
    addi s0, s0, 1
    blt s0, s1, .Lsend
    halt

receiver:
    salloc 24
    getsp s5
    li s0, 0                ; the next sequence number expected
    li s1, COUNT
    li s2, 0                ; checksum
    li s4, 0                ; errors
    li s6, 24
.Lrecv:
    precv t0, a2, s5, s6
    li t1, 16
    beq t0, t1, .Llength_ok
    addi s4, s4, 1
.Llength_ok:
    ld64 t1, [s5]
    beq t1, a3, .Lsender_ok
    addi s4, s4, 1
.Lsender_ok:
    ld64 t1, [s5 + 8]
    beq t1, s0, .Lorder_ok
    addi s4, s4, 1
.Lorder_ok:
    add s2, s2, t1
    addi s0, s0, 1
    blt s0, s1, .Lrecv
    st64 s2, [s5]
    st64 s1, [s5 + 8]
    st64 s4, [s5 + 16]
    psend a1, s5, s6
    halt
