#!/usr/bin/env bash
# Hypervisor figures: state round trip, interrupt latency, whole migrations.
#
#   bash bench/hypervisor.sh
#
# Builds `hv` (so the `hv migrate` row is measured too) and runs the
# harness in crates/cli/benches/hypervisor.rs, which starts real VM
# processes on loopback and prints a Markdown table of medians and p90s.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p cli
echo "$(nproc) cores, $(date -u +%Y-%m-%d)"
echo
cargo bench -q -p cli --bench hypervisor 2>/dev/null
