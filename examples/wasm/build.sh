#!/usr/bin/env bash
# Builds the C programs that the tests and examples run on Manda into
# WebAssembly, with clang for wasm32-wasi (wasi-libc) at -O2, debug info
# stripped (the name section stays: traps name their function).
#
#   bash examples/wasm/build.sh             rebuilds every committed X.wasm from the X.c beside it
#   bash examples/wasm/build.sh -o DIR X.c…  builds each X.c into DIR/X.wasm (the tests' fresh builds)
#
# The modules are committed so that a machine with only Rust runs them; the
# tests rebuild each one where clang is present and run both. Needs Debian's
# clang lld wasi-libc libclang-rt-14-dev-wasm32.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build() { clang --target=wasm32-wasi -O2 -I "$root/include" -Wl,--strip-debug -o "$2" "$1" && chmod 644 "$2"; }
if [ "${1:-}" = -o ]; then
    out=$2
    shift 2
    for src in "$@"; do
        name=$(basename "$src" .c)
        build "$src" "$out/$name.wasm"
    done
    exit 0
fi
cd "$root"
git ls-files '*.wasm' | while read -r module; do
    src=${module%.wasm}.c
    if [ -f "$src" ]; then
        build "$src" "$module"
        echo "$module"
    fi
done
