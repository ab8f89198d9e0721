"""The import structure as the README draws it: layers that import only downwards, and no loop.

Why a test and not a linter plugin: it runs offline in the project's own venv, it sees every import
(function bodies and TYPE_CHECKING blocks too, where lazy imports hide), and its one table is the
contract a reviewer reads. A module belongs to the layer of its longest listed prefix; a module may
import its own layer or lower ones; loops are checked between modules, whatever their layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "forgetalk"

#: Top to bottom. ``scan.records`` is the scan's data contract (statuses, index rows) that the scan
#: summary renderer reads, so it sits with the other result records, below render.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("entry", "__main__"),
    ("cli",),
    ("commands",),
    ("scan", "train", "selftest"),
    ("render",),
    ("pipeline",),
    ("explain", "verdict", "compression", "retouch_pattern"),
    ("engines", "synth"),
    ("results", "scan.records"),
    ("faces", "provenance"),
    ("registry", "guard", "io", "png_chunks", "errors", "weights", "ort", "metrics", "metrics_text", "progress", "terminal", "jpeg_markers", "jpeg_damage", "environment", ""),
)
#: Pairs in one layer that must stay independent of each other.
INDEPENDENT = (("scan", "train"), ("engines", "synth"), ("faces", "provenance"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules a file imports anywhere in it (function bodies and TYPE_CHECKING blocks too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            for alias in node.names:  # "from . import x" names module x, not the package's own code
                out.add(f"{mod}.{alias.name}" if f"{mod}.{alias.name}" in modules else mod)
    return {m for m in out if m in modules and m != name}


def graph(folders: tuple[str, ...] = ("",)) -> dict[str, set[str]]:
    files = sorted({p for f in folders for p in (PACKAGE / f).rglob("*.py")})
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {module_name(p): imports(p, modules) for p in files}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def place(module: str) -> tuple[int, str]:
    """(layer index, the prefix that placed it) of a forgetalk module: the longest matching prefix."""
    rel = module.removeprefix("forgetalk").lstrip(".")
    best: tuple[int, str] | None = None
    for depth, layer in enumerate(LAYERS):
        for prefix in layer:
            if rel == prefix or (prefix and rel.startswith(prefix + ".")) or (not prefix and rel == ""):
                if best is None or len(prefix) > len(best[1]):
                    best = (depth, prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def violations(g: dict[str, set[str]]) -> list[str]:
    out = []
    for src, targets in sorted(g.items()):
        (s_depth, s_prefix) = place(src)
        for dst in sorted(targets):
            d_depth, d_prefix = place(dst)
            if d_depth < s_depth:
                out.append(f"{src} -> {dst} (upward: {s_prefix or 'forgetalk'} may not import {d_prefix})")
            elif s_depth == d_depth and ((s_prefix, d_prefix) in INDEPENDENT or (d_prefix, s_prefix) in INDEPENDENT):
                out.append(f"{src} -> {dst} ({s_prefix} and {d_prefix} stay independent)")
    return out


def test_every_module_has_a_layer() -> None:
    for module in graph():
        place(module)


def test_no_upward_import() -> None:
    assert violations(graph()) == []


def test_no_import_loop_anywhere() -> None:
    g = graph()
    assert "forgetalk.faces.default_backend" in g and "forgetalk.scan.runner" in g
    assert cycles(g) == []


def test_the_checks_see_what_they_forbid() -> None:
    """The checks on known-bad shapes: the old faces registry loop and the old engines -> train import."""
    old_loop = {"faces.base": {"faces.default_backend"}, "faces.default_backend": {"faces.base", "faces.align"}, "faces.align": set()}
    assert cycles(old_loop) == [["faces.base", "faces.default_backend"]]
    assert violations({"forgetalk.engines.evidence.build": {"forgetalk.train.data"}}) != []
    assert violations({"forgetalk.render.scan_summary": {"forgetalk.scan.runner"}}) != []
    assert violations({"forgetalk.render.scan_summary": {"forgetalk.scan.records"}}) == []
    assert violations({"forgetalk.scan.runner": {"forgetalk.train.loop"}}) != []


def test_explain_knows_engines_only_through_the_contract() -> None:
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    engine_imports = {m for m in imports(PACKAGE / "explain.py", modules) if m.startswith("forgetalk.engines")}
    assert engine_imports == {"forgetalk.engines.base"}
