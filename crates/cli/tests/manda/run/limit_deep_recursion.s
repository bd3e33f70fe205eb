; run: --max-memory 64M --max-call-depth 1000000000 {file}
; steps: skipped (millions of calls, one at a time, are too slow for a test)
; The call stack counts against --max-memory: a recursion deeper than the memory
; allows traps there, whatever --max-call-depth says.
.code
main:
    call main
