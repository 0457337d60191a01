#!/usr/bin/env bash
# Builds Unicorn 2.1.4 with BareFlow's patches (UC_PATCHES in version.sh) as a wheel (x86 only), from the sdist
# on the package registry.  Called by tools/setup.sh; see tools/unicorn/README.md for why.
#   bash tools/unicorn/build_wheel.sh OUT_DIR   # prints the wheel's path on its last line
# Exit status non-zero on any failure (no network, no compiler, the patch no longer applies);
# the build log is OUT_DIR/build.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out"
log="$out/build.log"
: > "$log"
py=${PYTHON:-python3}
# shellcheck source=tools/unicorn/version.sh
. "$here/version.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/bareflow-unicorn.XXXXXX")
trap 'rm -rf "$work"' EXIT
{
  echo "== download unicorn==$UC_VERSION (sdist)"
  "$py" -m pip download -q --no-binary :all: --no-deps "unicorn==$UC_VERSION" -d "$work"
  sdist="$work/unicorn-$UC_VERSION.tar.gz"
  got=$(sha256sum "$sdist" | cut -d' ' -f1)
  if [ "$got" != "$UC_SDIST_SHA256" ]; then
    echo "sdist sha256 $got, expected $UC_SDIST_SHA256"; exit 1
  fi
  tar xzf "$sdist" -C "$work"
  src="$work/unicorn-$UC_VERSION"
  echo "== patch"
  for p in $UC_PATCHES; do
    patch -d "$src" -p1 --forward < "$here/$p"
  done
  echo "== cmake (x86 only)"
  gen=(); command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  cc=${CC:-}; [ -n "$cc" ] || { command -v cc >/dev/null 2>&1 && cc=cc; } || cc=clang
  CC=$cc cmake -S "$src/src" -B "$work/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DUNICORN_BUILD_TESTS=off -DUNICORN_ARCH=x86
  cmake --build "$work/build" -j "$(nproc 2>/dev/null || echo 2)"
  # setup.py ships prebuilt/libunicorn.so.2 as is when it exists (its own build would compile
  # every architecture); the local version label marks the wheel and still satisfies ==2.1.4
  mkdir -p "$src/prebuilt"
  cp "$work/build/libunicorn.so.2" "$work/build/libunicorn.a" "$src/prebuilt/"
  echo "== wheel $UC_WHEEL_VERSION"
  SETUPTOOLS_SCM_PRETEND_VERSION="$UC_WHEEL_VERSION" \
    "$py" -m pip wheel -q --no-deps -w "$work/wheel" "$src"
} >> "$log" 2>&1
whl=$(ls "$work"/wheel/unicorn-*.whl)
name=$(basename "$whl")
cp "$whl" "$out/.$name.tmp"
mv "$out/.$name.tmp" "$out/$name"   # atomic: two set-ups may build at once
echo "$out/$name"
