#!/usr/bin/env bash
# Puts Unicorn 2.1.4 with BareFlow's store-path patch into a venv (tools/setup.sh calls this).
#   bash tools/unicorn/install.sh VENV_DIR
# The wheel is built once per machine from the registry's sdist (tools/unicorn/build_wheel.sh,
# ~1.5 min on 2 cores) and kept in ${XDG_CACHE_HOME:-~/.cache}/bareflow/unicorn, keyed by the
# sdist's hash and the patch; later set-ups (other checkouts too) only install it.
# If it cannot be built, one line says so and PyPI's stock 2.1.4 stays: the same results, with
# every guest store on Unicorn's slow path (slower).  BAREFLOW_UNICORN=stock keeps (or puts
# back) the stock wheel; BAREFLOW_UNICORN=rebuild tries a failed build again.
# Idempotent and quiet when nothing is to be done.  Never fails the set-up.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$1
py="$venv/bin/python"
# shellcheck source=tools/unicorn/version.sh
. "$here/version.sh"
stamp="$venv/.bareflow-unicorn"
state=$(cat "$stamp" 2>/dev/null || true)
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
lib="$site/unicorn/lib/libunicorn.so.2"
has_marker() { grep -q uc_bareflow_store_patch "$lib" 2>/dev/null; }
mode=${BAREFLOW_UNICORN:-patched}

if [ "$mode" = stock ]; then
  if has_marker || [ "$state" != stock ]; then
    if has_marker; then
      echo "setup: BAREFLOW_UNICORN=stock: installing PyPI's unicorn $UC_VERSION" >&2
      "$py" -m pip install -q --no-deps --force-reinstall "unicorn==$UC_VERSION" >&2 || true
    fi
    echo stock > "$stamp"
  fi
  exit 0
fi
if [ "$state" = "patched $UC_KEY" ] && has_marker; then
  exit 0   # installed already
fi
if [ "$state" = "failed $UC_KEY" ] && [ "$mode" != rebuild ]; then
  exit 0   # said so once; BAREFLOW_UNICORN=rebuild tries again
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/bareflow/unicorn"
whl=$(ls "$cache"/unicorn-"$UC_WHEEL_VERSION"-*.whl 2>/dev/null | head -n 1)
if [ -z "$whl" ]; then
  echo "setup: building Unicorn $UC_VERSION with BareFlow's patches ($UC_PATCHES; x86 only, once per machine, ~2 min; tools/unicorn/README.md)" >&2
  whl=$(PYTHON="$py" bash "$here/build_wheel.sh" "$cache" 2>/dev/null | tail -n 1)
  if [ -z "$whl" ] || [ ! -f "$whl" ]; then
    echo "setup: could not build the patched Unicorn (log: $cache/build.log); using PyPI's unicorn $UC_VERSION: same results, guest stores slower" >&2
    echo "failed $UC_KEY" > "$stamp"
    exit 0
  fi
fi
# keep PyPI's library beside it: the stock-vs-patched equivalence test and before/after
# benchmarks load it with LIBUNICORN_PATH=.venv/unicorn-stock
if [ -f "$lib" ] && ! has_marker; then
  mkdir -p "$venv/unicorn-stock" && cp "$lib" "$venv/unicorn-stock/libunicorn.so.2"
fi
if "$py" -m pip install -q --no-deps --force-reinstall "$whl" >&2 && has_marker; then
  echo "patched $UC_KEY" > "$stamp"
else
  echo "setup: could not install $whl; using PyPI's unicorn $UC_VERSION: same results, guest stores slower" >&2
  "$py" -m pip install -q --no-deps "unicorn==$UC_VERSION" >&2 || true
  echo "failed $UC_KEY" > "$stamp"
fi
exit 0
