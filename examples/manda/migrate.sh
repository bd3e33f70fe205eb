#!/usr/bin/env bash
# A parallel Manda program moved mid-run: a pipeline of four contexts (a
# source, two stages, a printer: 1, 3, 5, …) starts in VM A, moves to VM B
# with every context, message and sleep in flight, and goes on there.
set -euo pipefail
cd "$(dirname "$0")/../.."
# MOVA_BIN: a directory with manda and hv already built (the tests use it); else build them here.
bin=${MOVA_BIN:-target/release}
[ -n "${MOVA_BIN:-}" ] || cargo build --release -q -p cli --bin manda --bin hv
export MOVA_RUNTIME_DIR=${MOVA_RUNTIME_DIR:-$(mktemp -d)} MOVA_LISTEN=127.0.0.1:0
# Each VM's output goes through sed by process substitution, so $! is the VM's own PID.
$bin/manda run examples/manda/pipeline.s 100000 > >(sed -u 's/^/  VM A: /') &
a=$!
$bin/manda run --wait examples/manda/pipeline.s > >(sed -u 's/^/  VM B: /') &
b=$!
# Whatever happens below, neither VM outlives the script.
trap 'kill $a $b 2>/dev/null || true' EXIT
until [ -e "$MOVA_RUNTIME_DIR/$a.json" ] && [ -e "$MOVA_RUNTIME_DIR/$b.json" ]; do sleep 0.05; done
sleep 0.5
$bin/hv ps
echo "--- hv migrate $a --to $b"
$bin/hv migrate "$a" --to "$b"
sleep 0.5
$bin/hv ps
$bin/hv kill "$b" >/dev/null
wait "$a" "$b" 2>/dev/null || true
