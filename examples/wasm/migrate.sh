#!/usr/bin/env bash
# A C program compiled to WebAssembly moves mid-run: examples/wasm/primes.wasm
# (examples/wasm/primes.c built by clang for wasm32-wasi; committed) starts on
# Manda VM A, moves to VM B with `hv migrate`, and goes on there: A prints the
# first primes, B the rest.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${MOVA_BIN:-target/release}
[ -n "${MOVA_BIN:-}" ] || cargo build --release -q -p cli --bin manda --bin hv
work=$(mktemp -d)
export MOVA_RUNTIME_DIR=${MOVA_RUNTIME_DIR:-$work} MOVA_LISTEN=127.0.0.1:0
# 40 primes, 100 ms apart. Each VM's output goes through sed, so $! is the VM's own PID.
$bin/manda run examples/wasm/primes.wasm 40 100 > >(sed -u 's/^/  VM A: /') &
a=$!
$bin/manda run --wait examples/wasm/primes.wasm > >(sed -u 's/^/  VM B: /') &
b=$!
trap 'kill $a $b 2>/dev/null || true' EXIT
until [ -e "$MOVA_RUNTIME_DIR/$a.json" ] && [ -e "$MOVA_RUNTIME_DIR/$b.json" ]; do sleep 0.05; done
sleep 1.5
$bin/hv ps
echo "--- hv migrate $a --to $b"
$bin/hv migrate "$a" --to "$b"
wait "$b" 2>/dev/null || true
