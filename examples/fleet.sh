#!/usr/bin/env bash
# A fleet of three hosts on etcd, on this machine: a three-member etcd
# cluster on loopback ports, two of the seed's counters on host-a and a
# waiting VM on each of host-b and host-c (processes named as hosts with
# --host-name). `hv ps` lists them all from etcd; `hv drain host-a` moves
# both counters off host-a, each to the host with the fewest programs, and
# they count on there. Needs etcd (Debian: apt-get install etcd-server).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v "${MOVA_ETCD:-etcd}" >/dev/null || { echo "fleet.sh needs etcd: apt-get install etcd-server (or set MOVA_ETCD)" >&2; exit 1; }
# MOVA_BIN: a directory with mova and hv already built (the tests use it); else build them here.
bin=${MOVA_BIN:-target/release}
[ -n "${MOVA_BIN:-}" ] || cargo build --release -q -p cli --bin mova --bin hv
work=$(mktemp -d)
export MOVA_RUNTIME_DIR=$work/runtime MOVA_LISTEN=127.0.0.1:0
mkdir -m 700 "$MOVA_RUNTIME_DIR"
pids=()
trap 'kill ${pids[@]} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# Three members on ports of this run (client port P, peer port P+1).
base=$((20000 + RANDOM % 20000))
peers="m0=http://127.0.0.1:$((base + 1)),m1=http://127.0.0.1:$((base + 11)),m2=http://127.0.0.1:$((base + 21))"
urls="http://127.0.0.1:$base,http://127.0.0.1:$((base + 10)),http://127.0.0.1:$((base + 20))"
for i in 0 1 2; do
    client=http://127.0.0.1:$((base + 10 * i)) peer=http://127.0.0.1:$((base + 10 * i + 1))
    "${MOVA_ETCD:-etcd}" --name m$i --data-dir "$work/m$i" --listen-client-urls $client --advertise-client-urls $client \
        --listen-peer-urls $peer --initial-advertise-peer-urls $peer --initial-cluster "$peers" \
        --initial-cluster-state new 2>"$work/m$i.log" &
    pids+=($!)
done
export MOVA_CLUSTER=$urls
until "$bin/hv" ps >/dev/null 2>&1; do sleep 0.2; done
echo "--- etcd at $urls"

# host-a: two counters; host-b, host-c: a waiting VM each. Output prefixed by VM.
vm() {
    local name=$1 host=$2
    shift 2
    $bin/mova run --host-name "$host" "$@" examples/counter.mv > >(sed -u "s/^/  $name ($host): /") &
    pids+=($!)
}
vm A1 host-a
vm A2 host-a
vm B host-b --wait
vm C host-c --wait
until [ "$("$bin/hv" ps --json | grep -c '"instance"')" = 4 ]; do sleep 0.1; done
sleep 0.6
$bin/hv ps
echo "--- hv drain host-a --dry-run"
$bin/hv drain host-a --dry-run
echo "--- hv drain host-a"
$bin/hv drain host-a
sleep 0.6
$bin/hv ps
