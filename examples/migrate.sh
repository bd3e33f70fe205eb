#!/usr/bin/env bash
# The main job: the seed's counter starts in VM A, moves to VM B mid-run, and
# continues there: A prints 1 … n, B prints n+1, n+2 …
set -euo pipefail
cd "$(dirname "$0")/.."
# MOVA_BIN: a directory with mova and hv already built (the tests use it); else build them here.
bin=${MOVA_BIN:-target/release}
[ -n "${MOVA_BIN:-}" ] || cargo build --release -q -p cli --bin mova --bin hv
export MOVA_RUNTIME_DIR=${MOVA_RUNTIME_DIR:-$(mktemp -d)} MOVA_LISTEN=127.0.0.1:0
# Each VM's output goes through sed by process substitution, so $! is the VM's own PID.
$bin/mova run examples/counter.mv > >(sed -u 's/^/  VM A: /') &
a=$!
$bin/mova run examples/counter.mv --wait > >(sed -u 's/^/  VM B: /') &
b=$!
# Whatever happens below, neither VM outlives the script.
trap 'kill $a $b 2>/dev/null || true' EXIT
until [ -e "$MOVA_RUNTIME_DIR/$a.json" ] && [ -e "$MOVA_RUNTIME_DIR/$b.json" ]; do sleep 0.05; done
sleep 1.0
$bin/hv ps
echo "--- hv migrate $a --to $b"
$bin/hv migrate "$a" --to "$b"
sleep 1.0
$bin/hv ps
$bin/hv kill "$b" >/dev/null
wait "$a" "$b" 2>/dev/null || true
