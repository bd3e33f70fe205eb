#!/usr/bin/env bash
# The main job: the seed's counter starts in VM A, moves to VM B mid-run, and
# continues there: A prints 1 … n, B prints n+1, n+2 …
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mova -p hypervisor
export MOVA_RUNTIME_DIR=${MOVA_RUNTIME_DIR:-$(mktemp -d)} MOVA_LISTEN=127.0.0.1:0
bin=target/release
$bin/mova run examples/counter.mv | sed -u 's/^/  VM A: /' &
sleep 0.3
$bin/mova run examples/counter.mv --wait | sed -u 's/^/  VM B: /' &
sleep 1.0
$bin/hv ps
a=$(pgrep -f "mova run examples/counter.mv$" | head -1)
b=$(pgrep -f "mova run examples/counter.mv --wait" | head -1)
echo "--- hv migrate $a --to $b"
$bin/hv migrate "$a" --to "$b"
sleep 1.0
$bin/hv ps
$bin/hv kill "$b" >/dev/null
wait
