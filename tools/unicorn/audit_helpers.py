"""Which TCG helpers of a built libunicorn can leave an exit request pending (exit-check.patch).

    python3 tools/unicorn/audit_helpers.py BUILD/libunicorn.so.2 [--c]

Unicorn 2.1.4 emitted an exit check after every guest memory access; tools/unicorn/exit-check.patch
emits it only after a helper call that may have asked the CPU loop to stop while the translated
block goes on.  This prints the helpers that cannot ("SAFE", the list the patch compiles into
qemu/tcg/tcg.c as uc_noexit_helper_names; `--c` prints it as that C array) and, for each of
the others, one call chain that reaches a reason ("ARM").

How: a static call graph of the library's machine code (`objdump -d`).  A helper is SAFE when
no chain of direct calls from `helper_<name>_x86_64` reaches
  - a guest memory access or the memory API (cpu_ld*/cpu_st*, *_mmu, *_phys, address_space_*,
    memory_region_dispatch*, io_readx/io_writex, tlb_fill, probe_access): MMIO callbacks,
    memory hooks, unmapped or protected stores (cpu_exit) happen there;
  - cpu_exit, cpu_interrupt, uc_emu_stop, tb_flush, breakpoint/watchpoint changes;
  - any call through a pointer (user hooks are called so; softfloat and the CPU loop call none
    in the helpers that matter) or a function outside the library (except plain libc/libm);
stopping at functions that never return (cpu_loop_exit*, raise_exception*, raise_interrupt*,
cpu_vmexit): they leave the block, so nothing stays pending.  A `jmp *%reg` right after a
`movslq (table,index,4)` is a switch's jump table, any other indirect jump a tail call through a
pointer.  Conservative by construction: a helper it cannot prove SAFE keeps Unicorn's check.
"""
from __future__ import annotations

import re
import subprocess
import sys

SINK = re.compile(r'(load_helper|store_helper|_mmu(_x86_64)?$|^cpu_ld|^cpu_st|address_space_|'
                  r'memory_region_dispatch|tlb_fill|^cpu_exit|^cpu_interrupt|uc_emu_stop|io_readx|'
                  r'io_writex|_phys(_x86_64)?$|probe_access|tlb_vaddr_to_host|cpu_breakpoint|'
                  r'cpu_watchpoint|tb_flush|break_translation)')
TERMINAL = re.compile(r'^(cpu_loop_exit(_restore|_noexc|_atomic)?|raise_exception(_ra|_err|_err_ra)?|'
                      r'raise_interrupt2?|cpu_vmexit|do_vmexit|cpu_abort)(_x86_64)?$')
#: calls through a pointer known to be harmless: the TB tree's comparator
BENIGN = {'g_tree_lookup'}
#: outside the library and harmless (libc, libm, the compiler's helpers)
LIBC = ('__', 'sig', 'mem', 'str', 'abort', 'fprintf', 'printf', 'free', 'malloc', 'calloc',
        'realloc', 'exit', 'sqrt', 'log', 'fesetround', 'fegetround', 'feclearexcept',
        'fetestexcept', 'ldexp', 'exp', 'pow', 'floor', 'ceil', 'fmod')


def call_graph(lib: str) -> dict[str, tuple[set[str], bool]]:
    dis = subprocess.run(['objdump', '-d', '--no-show-raw-insn', lib], check=True,
                         capture_output=True, text=True).stdout
    funcs: dict[str, tuple[set[str], list[bool]]] = {}
    cur = None
    recent: list[str] = []
    for line in dis.splitlines():
        recent = (recent + [line])[-6:]
        m = re.match(r'^([0-9a-f]+) <(.+)>:$', line)
        if m:
            cur = m.group(2)
            funcs[cur] = (set(), [False])
            continue
        m = re.match(r'^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$', line)
        if not m or cur is None:
            continue
        op, arg = m.group(2), m.group(3)
        if not (op.startswith('call') or op.startswith('j')):
            continue
        if '*' in arg:
            table = (re.match(r'^\*%r\w+$', arg.strip()) and
                     any(re.search(r'movslq\s+(?:0x0)?\(%r\w+,%r\w+,4\)', p) for p in recent[:-1]))
            if op.startswith('call') or not table:
                funcs[cur][1][0] = True
            continue
        t = re.search(r'<([^>+]+)(\+0x[0-9a-f]+)?>', arg)
        if t and t.group(1).replace('@plt', '') != cur and (not t.group(2) or op.startswith('call')):
            funcs[cur][0].add(t.group(1).replace('@plt', ''))
    return {k: (v[0], v[1][0]) for k, v in funcs.items()}


def audit(lib: str) -> dict[str, str | None]:
    graph = call_graph(lib)
    memo: dict[str, str | None] = {}

    def reason(f: str, stack: tuple[str, ...] = ()) -> str | None:
        if f in memo:
            return memo[f]
        if f not in graph:
            memo[f] = None if f.startswith(LIBC) else 'outside the library: ' + f
            return memo[f]
        if TERMINAL.match(f):
            memo[f] = None
            return None
        if SINK.search(f):
            memo[f] = 'reaches ' + f
            return memo[f]
        if f in stack:
            return None
        memo[f] = None
        calls, indirect = graph[f]
        if indirect and f not in BENIGN:
            memo[f] = 'calls through a pointer in ' + f
            return memo[f]
        for c in sorted(calls):
            r = reason(c, stack + (f,))
            if r:
                memo[f] = r + ' <- ' + f
                return memo[f]
        return None

    names = sorted(n[len('helper_'):-len('_x86_64')] for n in graph
                   if n.startswith('helper_') and n.endswith('_x86_64'))
    return {n: reason('helper_' + n + '_x86_64') for n in names}


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 64
    result = audit(sys.argv[1])
    if '--c' in sys.argv[2:]:
        safe = sorted(n for n, r in result.items() if r is None)
        print('static const char *const uc_noexit_helper_names[] = {')
        line = '   '
        for n in safe:
            item = f' "{n}",'
            if len(line) + len(item) > 92:
                print(line)
                line = '   '
            line += item
        print(line)
        print('};')
        return 0
    for n, r in result.items():
        print(('SAFE ' if r is None else 'ARM  ') + n + ('' if r is None else '   ' + r))
    return 0


if __name__ == '__main__':
    sys.exit(main())
