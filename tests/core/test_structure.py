"""core's shape: an acyclic import graph without lazy imports, and every word list defined once."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import vocab

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(CORE.rglob("*.py"))}


def _core_imports(tree: ast.AST) -> list[tuple[ast.stmt, str]]:
    """Every import of a core module anywhere in the tree (top level, TYPE_CHECKING blocks, functions)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        found += [(node, target) for target in targets if target in MODULES]
    return found


def _import_graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        graph[name] = {target for _, target in _core_imports(ast.parse(path.read_text())) if target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-loop), by Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_core_import_graph_has_no_cycles_counting_every_import():
    graph = _import_graph()
    assert "core.loop" in graph and "core.loop" in graph["core.train_rules"]
    assert _cycles(graph) == []


def test_no_core_module_imports_core_lazily():
    lazy = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        top_level = {id(node) for node in tree.body}
        lazy += [f"{name}:{node.lineno} imports {target}" for node, target in _core_imports(tree)
                 if id(node) not in top_level]
    assert lazy == []


def test_every_core_module_imports_first_with_nothing_of_core_loaded():
    # One interpreter; before each module, every core module is unloaded, so each import starts cold
    # (an order-dependent cycle would show here) while torch stays loaded (seconds, not minutes).
    script = f"""
import importlib, json, sys, traceback
failures = {{}}
for name in {sorted(MODULES)!r}:
    for loaded in [m for m in sys.modules if m == "core" or m.startswith("core.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=3)
print(json.dumps(failures))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {}


def _word_lists() -> dict[str, frozenset[str]]:
    return {name: frozenset(value) for name, value in vars(vocab).items()
            if name.isupper() and isinstance(value, tuple) and all(isinstance(v, str) for v in value)}


def _string_tuples(tree: ast.AST) -> list[tuple[int, frozenset[str]]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2 \
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            found.append((node.lineno, frozenset(e.value for e in node.elts)))
    return found


def test_every_word_list_is_spelled_out_only_in_core_vocab():
    lists = _word_lists()
    assert {"ROLES", "PRUNE_METHODS", "CENTERS", "SCOPES", "OUTCOMES", "DATASETS", "ARCHS"} <= set(lists)
    copies = []
    for name, path in MODULES.items():
        if name == "core.vocab":
            continue
        for line, words in _string_tuples(ast.parse(path.read_text())):
            copies += [f"{name}:{line} spells out vocab.{word_list}" for word_list, vocab_words in lists.items()
                       if words == vocab_words]
    assert copies == []


# (module that holds a registry, vocab list it must cover, registry name in the error, modules
# imported before the list drifts: those whose own registries check the same list)
REGISTRIES = [
    ("core.data", "DATASETS", "dataset", ()),
    ("core.models", "ARCHS", "model", ()),
    ("core.tails", "TAIL_METHODS", "tail estimator", ()),
    ("core.tails", "ALPHA_VARIANTS", "alpha variant", ()),
    ("core.measure", "AGGREGATES", "aggregate", ()),
    ("core.compress_kernels", "PRUNE_METHODS", "pruning method (item masses)", ()),
    ("core.compress_model", "PRUNE_METHODS", "pruning method (accounting)", ("core.compress_kernels",)),
]


@pytest.mark.parametrize("module,word_list,registry,before", REGISTRIES)
def test_a_registry_that_drifts_from_its_word_list_fails_at_import(module, word_list, registry, before):
    script = f"""
import importlib, sys
from core import vocab
for name in {before!r}:
    importlib.import_module(name)
vocab.{word_list} = vocab.{word_list} + ("a_new_word",)
try:
    import {module}
except AssertionError as err:
    print(err)
    sys.exit(0)
sys.exit("imported without complaint")
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{registry} registry" in out.stdout and "a_new_word" in out.stdout
