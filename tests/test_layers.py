"""The import graph is the one docs/layout.md draws: layers, imports only downward, no cycles,
imports at the top of a module unless a comment says why not.

An AST walk over simgap/ and experiments/ (no module is imported): every `import` and
`from ... import` naming a simgap module is an edge, whether at the top of a module or inside a
function. `LAYERS` below is the layer list of docs/layout.md; keep the two the same.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import from its own layer and the layers below, never above.
# A pattern ending in ".*" covers a package's modules; the most specific pattern wins, so
# "simgap.fit.cli" (entry points) beats "simgap.fit.*" (fitting).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("simgap.config", "simgap.cache", "simgap.cpu", "simgap.intervals", "simgap.memory",
              "simgap.rows", "simgap.workers")),
    ("laws", ("simgap.laws", "simgap.optima")),
    ("training kit", ("simgap.optim", "simgap.sources", "simgap.prune", "simgap.distributed",
                      "simgap.families.base")),
    ("families", ("simgap.families", "simgap.families.*")),
    ("training", ("simgap.feed", "simgap.engine", "simgap.trainers", "simgap.flops", "simgap.rundir")),
    ("fitting", ("simgap.fit", "simgap.fit.*", "simgap.plots")),
    ("analysis", ("simgap.findings", "simgap.report", "simgap.figures")),
    ("planning", ("simgap.plan", "simgap.plan.*")),
    ("API", ("simgap.runner", "simgap.decide", "simgap.api")),
    ("entry points", ("simgap", "simgap.sweep", "simgap.fit.cli", "simgap.fit.__main__",
                      "simgap.plan.__main__", "experiments.*")),
]

# Upward edges that exist today and are being removed (issue 17: report must not import a CLI,
# findings must not import the planner, figures must not import the sweep). The test fails on
# any upward edge not listed here AND on any entry listed here that is no longer in the code:
# delete an entry when its import goes, so this set only shrinks, to empty.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()

# Imports inside a function body are allowed only with a comment containing "lazy:" on the
# same line or in the comment lines right above it, saying why (e.g. a measured start-up cost, or an environment
# variable that must be set before jax is imported). These are the ones without such a comment
# today, each to be moved to the top (or given its reason); like KNOWN_VIOLATIONS, a stale
# entry fails the test. Entries: (module, imported name as written).
KNOWN_LAZY: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = sorted((ROOT / "simgap").rglob("*.py")) + sorted((ROOT / "experiments").glob("*.py"))
    return {module_name(p): p for p in files}


MODULES = sources()


def resolve(name: str) -> str | None:
    """The simgap module an imported dotted name refers to (None: not simgap's)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path) -> list[tuple[str | None, int, bool, str]]:
    """Every import of a file: (the simgap module it names, or None: not simgap's; its line;
    whether it sits inside a function; the module as written)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner |= {id(n) for n in ast.walk(node) if n is not node}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(resolve(a.name), node.lineno, id(node) in inner, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: relative import (simgap imports absolutely)"
            for a in node.names:  # `from simgap import rows` names simgap.rows; `from simgap.x import f` simgap.x
                full = f"{node.module}.{a.name}"
                name = full if full in MODULES else node.module
                out.append((resolve(name), node.lineno, id(node) in inner, name))
    return out


def layer_of(module: str) -> int | None:
    best, best_len = None, -1
    for i, (_, patterns) in enumerate(LAYERS):
        for p in patterns:
            exact = p == module
            if exact or (p.endswith(".*") and fnmatch.fnmatch(module, p)):
                score = 10_000 if exact else len(p)
                if score > best_len:
                    best, best_len = i, score
    return best


def graph() -> dict[str, set[str]]:
    return {m: {t for t, *_ in imports(p) if t and t != m} for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, f"modules in no layer (add them to LAYERS here and to docs/layout.md): {missing}"


def test_no_module_imports_a_layer_above_it():
    upward = set()
    for module, targets in graph().items():
        for target in targets:
            if layer_of(target) > layer_of(module):
                upward.add((module, target))
    new = sorted(upward - KNOWN_VIOLATIONS)
    names = lambda e: f"{e[0]} ({LAYERS[layer_of(e[0])][0]}) -> {e[1]} ({LAYERS[layer_of(e[1])][0]})"
    assert not new, "upward imports:\n" + "\n".join(map(names, new))
    stale = sorted(KNOWN_VIOLATIONS - upward)
    assert not stale, f"no longer in the code, delete from KNOWN_VIOLATIONS: {stale}"


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
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
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert not cycles(graph()), f"import cycles: {cycles(graph())}"


def says_why(lines: list[str], line: int) -> bool:
    """Whether the import on (1-based) `line` carries a "lazy:" comment: on its own line or in
    the block of comment lines right above it."""
    if "lazy:" in lines[line - 1]:
        return True
    i = line - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        if "lazy:" in lines[i]:
            return True
        i -= 1
    return False


def test_imports_inside_functions_say_why():
    lazy = set()
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for _, line, inner, name in imports(path):
            if inner and not says_why(lines, line):
                lazy.add((module, name))
    new = sorted(lazy - KNOWN_LAZY)
    assert not new, ("imports inside functions without a '# lazy: why' comment (move them to the top, "
                     f"or say why not): {new}")
    stale = sorted(KNOWN_LAZY - lazy)
    assert not stale, f"no longer lazy, delete from KNOWN_LAZY: {stale}"


def test_the_checker_sees_what_it_must():
    """The rules can fail: an upward edge, a cycle and an unexplained lazy import are caught."""
    assert layer_of("simgap.fit.cli") > layer_of("simgap.fit.table") > layer_of("simgap.engine")
    assert layer_of("simgap.sweep") > layer_of("simgap.api") > layer_of("simgap.plan.run")  # the CLIs import the API
    assert layer_of("simgap.families.mlp") == layer_of("simgap.families") > layer_of("simgap.families.base")
    assert layer_of("simgap.nonexistent") is None
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert ("simgap.engine", "simgap.feed") in {(m, t) for m, ts in graph().items() for t in ts}


def test_layout_page_lists_the_same_layers():
    page = (ROOT / "docs" / "layout.md").read_text()
    for i, (name, _) in enumerate(LAYERS, start=1):
        assert f"| {i} | {name} |" in page, f"docs/layout.md has no row '| {i} | {name} |'"
