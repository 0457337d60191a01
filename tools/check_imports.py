"""Checks BareFlow's layering: no import cycle, no oversized module.

    python tools/check_imports.py          # exit 0 when clean, 1 with each problem on a line

The import graph is read statically (ast) from every module of the bareflow packages,
including imports inside functions (a lazy import is still a dependency, and a cycle through it
is still a cycle), but not those under `if TYPE_CHECKING:` (type hints only: they never run).  It fails on

* a cycle between modules (printed as `a -> b -> a`);
* a cycle between layers.  The layers, bottom up: devices.base (clock, errors, CP437), devices,
  emu (the machine and its headless tools), emu.session (the session: it runs a machine for a front end), tui, tools.  A package
  may import only its own layer or those below;
* a front end (bareflow.tui) importing anything below it but the session, the headless CLI it
  dispatches to and the shared bottom layer (clock, errors, CP437);
* a file in emu/, devices/ or tui/ longer than MAX_LINES, except those listed in
  `LINE_EXCEPTIONS` (each with the reason it is still long).

The packages map to folders as pyproject.toml says (bareflow.emu = emu/, ...).
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: package -> folder (pyproject.toml's package-dir)
PACKAGES = {"bareflow.devices": "devices", "bareflow.emu": "emu", "bareflow.tui": "tui", "bareflow.tools": "tools"}
#: layers, bottom first; a module belongs to the longest prefix that names it.  The shared bottom
#: layer (clock, errors, the CP437 table) is devices/base (bareflow.devices.base).
LAYERS = ("bareflow.devices.base", "bareflow.devices", "bareflow.emu", "bareflow.emu.session", "bareflow.tui",
          "bareflow.tools")
#: folders whose files must stay short
SIZE_CHECKED = ("emu", "devices", "tui")
MAX_LINES = 600
#: files allowed above MAX_LINES for now, with the reason (the issue that cuts them)
LINE_EXCEPTIONS: dict[str, str] = {}


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every bareflow module name -> its file."""
    out: dict[str, Path] = {}
    for pkg, folder in PACKAGES.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node, except the bodies of `if TYPE_CHECKING:` (imports for type hints only, which
    never run and so cannot make an import cycle)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The bareflow modules `module` imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def add(name: str) -> None:
        # the module itself if known, else its nearest known parent package
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bareflow."):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            if not target.startswith("bareflow"):
                continue
            for alias in node.names:       # `from pkg import mod` imports the submodule
                sub = f"{target}.{alias.name}"
                add(sub if sub in known else target)
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = module_files(root)
    known = set(files)
    return {m: imports_of(m, p, known) for m, p in files.items()}


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one node (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:   # Tarjan, iterative enough for our graph sizes
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in g.get(v, ()):
                comps.append(sorted(comp))

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for v in sorted(g):
        if v not in index:
            strong(v)
    return [_one_cycle(g, comp) for comp in comps]


def _one_cycle(g: dict[str, set[str]], comp: list[str]) -> list[str]:
    """A concrete cycle inside a strongly connected component, for the message."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    todo = [start]
    while todo:                       # breadth-first back to start
        v = todo.pop(0)
        for w in sorted(g.get(v, ())):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start] \
                    if v != start else [start, start]
            if w in members and w not in prev and w != start:
                prev[w] = v
                todo.append(w)
    return comp + [comp[0]]


def layer_of(module: str) -> str:
    best = ""
    for layer in LAYERS:
        if (module == layer or module.startswith(layer + ".")) and len(layer) > len(best):
            best = layer
    return best or module


def layer_graph(g: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m, deps in g.items():
        a = layer_of(m)
        for d in deps:
            b = layer_of(d)
            if a != b:
                out.setdefault(a, set()).add(b)
        out.setdefault(a, set())
    return out


def upward_imports(g: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer into a higher one (each a problem even without a cycle)."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    bad = []
    for m, deps in sorted(g.items()):
        for d in sorted(deps):
            a, b = layer_of(m), layer_of(d)
            if a in rank and b in rank and rank[b] > rank[a]:
                bad.append(f"{m} ({a}) imports {d} ({b}), a layer above it")
    return bad


#: what a front end may import from the layers below: the session and the shared bottom layer
#: (tui/cli.py also hands the headless commands to bareflow.emu.cli, and asks the leaf
#: bareflow.emu.engine_build which Unicorn library is loaded for --version); never the machine itself
FRONT_END = "bareflow.tui"
FRONT_END_MAY_IMPORT = ("bareflow.emu.session", "bareflow.emu.cli", "bareflow.devices.base", "bareflow.emu.clock",
                        "bareflow.emu.errors", "bareflow.emu.engine_build", "bareflow.tui")


def front_end_reaches(g: dict[str, set[str]]) -> list[str]:
    """Imports by a front end of anything but the session and the bottom layer."""
    bad = []
    for m, deps in sorted(g.items()):
        if not m.startswith(FRONT_END + ".") and m != FRONT_END:
            continue
        for d in sorted(deps):
            if not any(d == ok or d.startswith(ok + ".") for ok in FRONT_END_MAY_IMPORT):
                bad.append(f"{m} imports {d} (a front end talks to the session only)")
    return bad


def long_files(root: Path = ROOT) -> list[str]:
    out = [f"listed as long but no longer is (drop it from LINE_EXCEPTIONS): {rel}"
           for rel in sorted(LINE_EXCEPTIONS) if (root / rel).exists()
           and len((root / rel).read_text().splitlines()) <= MAX_LINES]
    for folder in SIZE_CHECKED:
        for path in sorted((root / folder).rglob("*.py")):
            rel = str(path.relative_to(root))
            n = len(path.read_text().splitlines())
            if n > MAX_LINES and rel not in LINE_EXCEPTIONS:
                out.append(f"{rel}: {n} lines (more than {MAX_LINES})")
    return out


def problems(root: Path = ROOT) -> list[str]:
    g = graph(root)
    out = [f"module cycle: {' -> '.join(c)}" for c in find_cycles(g)]
    out += [f"layer cycle: {' -> '.join(c)}" for c in find_cycles(layer_graph(g))]
    out += [f"upward import: {line}" for line in upward_imports(g)]
    out += [f"front end: {line}" for line in front_end_reaches(g)]
    out += [f"file too long: {line}" for line in long_files(root)]
    return out


def main(argv: list[str] | None = None) -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"check_imports: {len(found)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_imports: {len(graph())} modules, no cycle, layers import only downward, "
          f"no file in {', '.join(SIZE_CHECKED)} above {MAX_LINES} lines" +
          (f" except {len(LINE_EXCEPTIONS)} listed:" if LINE_EXCEPTIONS else ""))
    for rel, why in sorted(LINE_EXCEPTIONS.items()):   # said every time: an exception is a debt
        print(f"  still long: {rel} ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
