#!/usr/bin/env bash
# Measures Armada and its peers back to back on the same instances (see BENCHMARKS.md).
#
#   scripts/bench-peers.sh            Armada bench + the scalar reference loop
#   BANDITBENCH=1 scripts/bench-peers.sh   also banditbench 0.0.8 (needs /tmp/peers-bb, see below)
#   RUST_PEERS=1 scripts/bench-peers.sh    also the rill-ml / pymab / trashpanda crates
#
# The peers live in ../shared/peers (not part of this repository); they are built into
# /tmp/armada-peers-target so nothing is written next to them. banditbench needs a venv:
#   python3 -m venv /tmp/peers-bb && /tmp/peers-bb/bin/pip install banditbench==0.0.8 litellm==1.59.8
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="${PEERS:-../shared/peers}"
TARGET=/tmp/armada-peers-target

echo "## machine"
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"

echo "## reference loop (../shared/peers/ref-loop), median of 3"
(cd "$PEERS/ref-loop" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q)
for algo in ucb1 ts; do
  for _ in 1 2 3; do "$TARGET/release/ref-loop" "$algo" 100000 10; done
done

if [ "${RUST_PEERS:-0}" = 1 ]; then
  echo "## rust peers (../shared/peers/rust-peers)"
  (cd "$PEERS/rust-peers" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q)
  for lib in rill pymab trashpanda; do
    for algo in ucb1 ts; do "$TARGET/release/rustpeers" "$lib" "$algo" 100000 10 || true; done
  done
fi

echo "## armada (cargo bench -p armada --bench policies)"
cargo bench -q -p armada --bench policies 2>/dev/null

if [ "${BANDITBENCH:-0}" = 1 ]; then
  echo "## banditbench 0.0.8 (its own hard instance, T=1000, 30 trajectories)"
  for k in 5 20; do
    /tmp/peers-bb/bin/python "$PEERS/python/banditbench_bench.py" ucb "$k" 1000 30 small
    /tmp/peers-bb/bin/python "$PEERS/python/banditbench_bench.py" ts "$k" 1000 30 small
  done
fi
