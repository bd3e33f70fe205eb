; run: --max-port-bytes 1K {file}
; Messages queued in all ports count against --max-port-bytes, 64 bytes of
; bookkeeping each beyond their length: 100-byte messages, 164 each, 6 fit.
.data
b: .zero 100
.code
main:
    pnew s0
    la s1, b
    li s2, 100
    li s3, 0
.Lsend:
    psend s0, s1, s2
    addi s3, s3, 1
    printi s3
    jmp .Lsend
