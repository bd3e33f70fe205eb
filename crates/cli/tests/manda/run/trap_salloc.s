; run: --stack-size 4K {file}
; A frame as large as the stack fits; one byte more does not.
.code
main:
    salloc 4096
    sfree 4096
    salloc 4097
    halt
