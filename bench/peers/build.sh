#!/bin/bash
# Compiles the peer programs (native C, WebAssembly) into PREFIX; setup.sh runs
# it after installing the compilers, bench/manda.sh before every run (a second).
# Usage: build.sh [PREFIX]   (PREFIX defaults to ~/.cache/peers)
set -eu
P=${1:-$HOME/.cache/peers}; mkdir -p "$P"
here=$(cd "$(dirname "$0")" && pwd)
for b in fib loop sieve nbody crc spectral; do gcc -O2 "$here/$b.c" -o "$P/$b.c.bin" -lm; done
gcc -O2 -fno-optimize-sibling-calls -fno-inline "$here/fib.c" -o "$P/fib_calls.c.bin"
cp "$here/wasm/hand.wasm" "$P/hand.wasm"   # committed: hand.wat encoded (tests/wasm.rs checks it)
clang --target=wasm32 -O2 -ffreestanding -nostdlib -Wl,--no-entry -o "$P/kernels.wasm" "$here/wasm/kernels.c"
