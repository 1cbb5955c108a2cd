#!/usr/bin/env bash
# Measures Armada and its peers back to back on the same instances (see BENCHMARKS.md).
#
#   scripts/bench-peers.sh            Armada bench + the scalar reference loop
#   BANDITBENCH=1 scripts/bench-peers.sh   also banditbench 0.0.8 (needs /tmp/peers-bb, see below)
#   RUST_PEERS=1 scripts/bench-peers.sh    also the rill-ml / pymab / trashpanda crates
#   CONTEXTUAL=1 scripts/bench-peers.sh    also the linear contextual instance (LinUCB, d=20, K=10):
#       the reference loop (3 runs), the Rust crates' LinUCB (with RUST_PEERS=1), each Python peer
#       installed in /tmp/peers, Vowpal Wabbit (pyvw online + native driver over a logged file), then
#       `cargo bench -p armada --bench contextual` (skipped with a note while that target is missing).
#       T_LIN (default 50000) sets the rounds; the slow Python peers in SLOW_LIBS (default
#       "bayesianbandits pymab-python", ~300-1.5k rounds/s) run T_LIN_SLOW (default 5000) rounds:
#       their per-CPU-second rate does not depend on T, but their regret is then over T_LIN_SLOW rounds.
#       Takes ~6-9 minutes on 2 cores (MABWiser ~4 min, contextualbandits ~2 min of it).
#   MAB=0 ...                           skip the multi-armed (UCB1 / Thompson) part, e.g. MAB=0 CONTEXTUAL=1
#
# The peers live in ../shared/peers (not part of this repository); they are built into
# /tmp/armada-peers-target so nothing is written next to them. Python results are appended to
# $RESULTS (default /tmp/armada-peers.jsonl). banditbench needs a venv:
#   python3 -m venv /tmp/peers-bb && /tmp/peers-bb/bin/pip install banditbench==0.0.8 litellm==1.59.8
# The contextual Python peers need another (~1 min; obp pulls torch, ~1.5 min more, and on Python 3.11
# pip resolves it to obp 0.4.1 because obp 0.5.x requires Python < 3.11):
#   python3 -m venv /tmp/peers && /tmp/peers/bin/pip install -U pip
#   /tmp/peers/bin/pip install numpy mabwiser contextualbandits vowpalwabbit bayesianbandits pymab
#   /tmp/peers/bin/pip install obp    # optional
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="${PEERS:-../shared/peers}"
TARGET=/tmp/armada-peers-target

echo "## machine"
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"

(cd "$PEERS/ref-loop" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q)
if [ "${MAB:-1}" = 1 ]; then
  echo "## reference loop (../shared/peers/ref-loop), median of 3"
  for algo in ucb1 ts; do
    for _ in 1 2 3; do "$TARGET/release/ref-loop" "$algo" 100000 10; done
  done
fi

if [ "${RUST_PEERS:-0}" = 1 ]; then
  (cd "$PEERS/rust-peers" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q)
  if [ "${MAB:-1}" = 1 ]; then
    echo "## rust peers (../shared/peers/rust-peers)"
    for lib in rill pymab trashpanda; do
      for algo in ucb1 ts; do "$TARGET/release/rustpeers" "$lib" "$algo" 100000 10 || true; done
    done
  fi
fi

if [ "${MAB:-1}" = 1 ]; then
  echo "## armada (cargo bench -p armada --bench policies)"
  cargo bench -q -p armada --bench policies 2>/dev/null
fi

if [ "${BANDITBENCH:-0}" = 1 ]; then
  echo "## banditbench 0.0.8 (its own hard instance, T=1000, 30 trajectories)"
  for k in 5 20; do
    /tmp/peers-bb/bin/python "$PEERS/python/banditbench_bench.py" ucb "$k" 1000 30 small
    /tmp/peers-bb/bin/python "$PEERS/python/banditbench_bench.py" ts "$k" 1000 30 small
  done
fi

if [ "${CONTEXTUAL:-0}" = 1 ]; then
  T_LIN="${T_LIN:-50000}"
  T_LIN_SLOW="${T_LIN_SLOW:-5000}"
  SLOW_LIBS="${SLOW_LIBS:-bayesianbandits pymab-python}"
  PY="${PEERS_PY:-/tmp/peers/bin/python}"
  export RESULTS="${RESULTS:-/tmp/armada-peers.jsonl}" PYTHONDONTWRITEBYTECODE=1
  section_start=$SECONDS

  echo "## contextual: reference loop linucb d=20 K=10 T=$T_LIN, median of 3"
  (cd "$PEERS/ref-loop" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q)
  for _ in 1 2 3; do "$TARGET/release/ref-loop" linucb "$T_LIN"; done

  if [ "${RUST_PEERS:-0}" = 1 ]; then
    # wall seconds, one run each; the pymab crate's Experiment reports no regret here (extra 0.000)
    echo "## contextual: rust peers' LinUCB (trashpanda, rill LinUcbFast / LinUcb, pymab crate)"
    (cd "$PEERS/rust-peers" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q)
    for lv in "trashpanda linucb" "rill linucbfast" "rill linucb" "pymab linucb"; do
      # shellcheck disable=SC2086
      "$TARGET/release/rustpeers" $lv "$T_LIN" || echo "note: rustpeers $lv failed"
    done
  fi

  if [ ! -x "$PY" ]; then
    echo "note: $PY missing: Python and Vowpal Wabbit peers skipped (set-up commands in this header)"
  else
    has() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }
    echo "## contextual: Python peers (${PY%/bin/python}), LinUCB one round per call, per CPU-second, median of 3"
    for lib in numpy pymab-rust obp contextualbandits mabwiser bayesianbandits pymab-python; do
      mod="${lib%%-*}"
      if ! has "$mod"; then echo "note: $mod not installed in ${PY%/bin/python}: $lib skipped"; continue; fi
      t="$T_LIN"
      case " $SLOW_LIBS " in *" $lib "*) t="$T_LIN_SLOW" ;; esac
      T_LIN="$t" "$PY" "$PEERS/python/lin_python.py" "$lib" || echo "note: $lib failed"
    done

    if has vowpalwabbit; then
      VW_EXPLORERS="${VW_EXPLORERS:-epsilon0.05 squarecb}"
      echo "## contextual: Vowpal Wabbit, pyvw one round per call (online, with regret): $VW_EXPLORERS"
      # shellcheck disable=SC2086
      T_LIN="$T_LIN" "$PY" "$PEERS/python/vw_adf.py" online $VW_EXPLORERS || echo "note: vw online failed"
      echo "## contextual: Vowpal Wabbit native driver over a logged file (C++; includes ~0.1 s python -m start-up; no regret)"
      # shellcheck disable=SC2086
      VW_DATA="/tmp/armada-vw-logged-$T_LIN.dat" T_LIN="$T_LIN" "$PY" "$PEERS/python/vw_adf.py" file $VW_EXPLORERS \
        || echo "note: vw file failed"
    else
      echo "note: vowpalwabbit not installed in ${PY%/bin/python}: skipped"
    fi
  fi

  echo "## armada (cargo bench -p armada --bench contextual)"
  has_bench() {
    cargo metadata --no-deps --format-version 1 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
sys.exit(0 if any(t["name"] == "contextual" and "bench" in t["kind"]
                  for p in m["packages"] if p["name"] == "armada" for t in p["targets"]) else 1)'
  }
  if has_bench; then
    cargo bench -q -p armada --bench contextual 2>/dev/null || echo "note: armada contextual bench failed (exit $?)"
  else
    echo "note: armada has no bench target 'contextual' yet: skipped"
  fi
  echo "contextual section: $((SECONDS - section_start)) s wall"
fi
