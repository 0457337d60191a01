#!/usr/bin/env bash
# Sets up everything BareFlow needs on a fresh Debian machine, then optionally runs something.
#   bash tools/setup.sh            # install only
#   bash tools/setup.sh run [ARGS] # install, then `bareflow-emu ARGS` (the TUI with no ARGS)
#   bash tools/setup.sh test [ARGS]# install, then the test suite (pytest ARGS)
# Idempotent: a second run installs nothing and takes a second.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

need_apt=()
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
command -v ld.lld >/dev/null 2>&1 || need_apt+=(lld)
command -v llvm-ar >/dev/null 2>&1 || need_apt+=(llvm)
command -v nasm >/dev/null 2>&1 || need_apt+=(nasm)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v qemu-system-i386 >/dev/null 2>&1 || need_apt+=(qemu-system-x86)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v gdb >/dev/null 2>&1 || need_apt+=(gdb)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)   # the patched Unicorn (tools/unicorn/)
command -v objdump >/dev/null 2>&1 || need_apt+=(binutils)   # tools/unicorn/audit_helpers.py (a test audits the built library)
command -v patch >/dev/null 2>&1 || need_apt+=(patch)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
fi

stamp=.venv/.bareflow-installed
# every C file fastpath.c #includes (fastpath_*.c) rebuilds it when it changes
for f in emu/fastpath_*.c; do if [ -f "$stamp" ] && [ "$f" -nt "$stamp" ]; then rm -f "$stamp"; fi; done
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] || [ emu/fastpath.c -nt "$stamp" ]; then
  echo "setup: installing bareflow (editable) into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >&2 || true
  .venv/bin/python -m pip install -q -e ".[test]" >&2
  touch "$stamp"
fi

# Unicorn 2.1.4 with the store-path patch (issue 11; tools/unicorn/README.md): built once per
# machine from the registry's sdist and cached; stock PyPI Unicorn stays if it cannot be built.
bash tools/unicorn/install.sh .venv

# Start-up (issue 11): setuptools' editable install puts an import hook in a .pth file, and every
# Python start in this venv ran it (pathlib, importlib.util, re, urllib... ~20 ms, half of a bare
# `python -c pass`).  A plain path entry does the same job: `bareflow` is a package whose
# __path__ is this checkout, so bareflow.emu is emu/, bareflow.devices devices/ and so on (new
# files are seen at once, __file__ names the real file).  Rewritten on every run (idempotent);
# a later `pip install -e .` by hand only brings the slower hook back.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
shim=.venv/bareflow-path
mkdir -p "$shim/bareflow"
printf '"""BareFlow from this checkout (tools/setup.sh): bareflow.<pkg> is <checkout>/<pkg>."""\n__path__ = [%s]\n' \
  "$(printf '%s' "$here" | .venv/bin/python -c 'import sys; print(repr(sys.stdin.read()))')" > "$shim/bareflow/__init__.py.new"
mv "$shim/bareflow/__init__.py.new" "$shim/bareflow/__init__.py"
for pth in "$site"/__editable__.bareflow-*.pth; do
  if [ -e "$pth" ]; then printf '%s\n' "$here/$shim" > "$pth"; fi
done

# Byte-compile the project's own sources: an editable install leaves them uncompiled, and where
# PYTHONDONTWRITEBYTECODE is set every start compiled ~100 modules again (0.2 s of a 0.33 s run).
# Up-to-date files are skipped, so this costs ~50 ms when nothing changed.
.venv/bin/python -m compileall -q -j 0 emu devices tui tools "$shim" >/dev/null 2>&1 || true

case "${1:-}" in
  run) shift; exec .venv/bin/bareflow-emu "$@" ;;
  test) shift; exec .venv/bin/python -m pytest "$@" ;;
  "") ;;
  *) echo "setup: unknown action '$1' (use run or test)" >&2; exit 64 ;;
esac
