"""Security basics (issue 6): nothing a user did not create is unpickled; what tailsweep starts does not
open an HTTP server beyond loopback; sweep names and trial paths cannot leave the storage root."""
from __future__ import annotations

import ast
import os
import random
import sys
import textwrap
from pathlib import Path

import pytest

from sweep import snapshots
from sweep.cli import main
from sweep.errors import EXIT_BAD_INPUT
from sweep.paths import Layout, check_sweep_name
from sweep.trial_store import TrialStore
from tests.reliability import helpers

pytestmark = pytest.mark.reliability
SOURCE_DIRS = ("core", "sweep", "analysis", "bench", "tests")


# ---------------------------------------------------------------- no unsafe deserialisation
def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


PICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "yaml.SafeLoader", "yaml.CSafeLoader"}


def unsafe_loads(source: str) -> tuple[list[str], dict[str, int]]:
    """(violations, counts of the safe patterns seen) for one module's source.

    Violations: any load from a pickle-like module, a pickle.Unpickler used as is, from-imports of their
    loaders, pandas.read_pickle, numpy.load(allow_pickle=True), torch.load without weights_only=True,
    yaml.load with a loader not derived from SafeLoader, yaml.unsafe_load/full_load. Allowed: a subclass
    of pickle.Unpickler that overrides find_class (an allow-list unpickler). Import aliases are followed."""
    tree = ast.parse(source)
    problems: list[str] = []
    seen = {"torch.load": 0, "restricted_unpickler": 0, "yaml.load": 0}
    alias: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            alias.update({a.asname: a.name for a in node.names if a.asname})

    def real(node: ast.AST) -> str:
        name = _dotted(node)
        head, dot, rest = name.partition(".")
        return alias.get(head, head) + dot + rest

    safe_loaders = set(SAFE_YAML_LOADERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {real(b) for b in node.bases}
            methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
            if bases & {"pickle.Unpickler", "Unpickler"}:
                if "find_class" in methods:
                    seen["restricted_unpickler"] += 1
                else:
                    problems.append(f"line {node.lineno}: Unpickler subclass {node.name} without find_class")
            if bases & SAFE_YAML_LOADERS:
                safe_loaders.add(node.name)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLERS:
            names = {a.name for a in node.names}
            if names & {"load", "loads", "Unpickler", "open"}:
                problems.append(f"line {node.lineno}: from {node.module} import {', '.join(sorted(names))}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = real(node.func)
        module, _, attr = name.rpartition(".")
        where = f"line {node.lineno}: {name}(...)"
        if module.split(".")[0] in PICKLERS and attr in ("load", "loads", "Unpickler", "open"):
            problems.append(where)
        elif attr == "read_pickle":
            problems.append(where)
        elif name == "numpy.load" and _is_true(_keyword(node, "allow_pickle")):
            problems.append(where + " with allow_pickle=True")
        elif name == "torch.load":
            seen["torch.load"] += 1
            if not _is_true(_keyword(node, "weights_only")):
                problems.append(where + " without weights_only=True")
        elif name in ("yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all"):
            problems.append(where)
        elif name == "yaml.load":
            seen["yaml.load"] += 1
            if _dotted(_keyword(node, "Loader") or ast.Constant(None)) not in safe_loaders:
                problems.append(where + " with a loader not derived from SafeLoader")
    return problems, seen


@pytest.mark.parametrize("code", [
    "import pickle\npickle.load(open('x', 'rb'))",
    "import pickle\nobj = pickle.loads(data)",
    "import pickle as p\np.load(f)",
    "import torch as t\nt.load('m.pt')",
    "from pickle import loads",
    "import pickle\npickle.Unpickler(f).load()",
    "import pickle\nclass U(pickle.Unpickler):\n    pass",
    "import torch\ntorch.load('m.pt')",
    "import torch\ntorch.load('m.pt', weights_only=False)",
    "import pandas as pd\npd.read_pickle('x')",
    "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
    "import yaml\nyaml.load(text, Loader=yaml.Loader)",
    "import yaml\nyaml.unsafe_load(text)",
    "import dill\ndill.loads(b)",
], ids=lambda code: code.splitlines()[-1][:40])
def test_the_scanner_catches_each_unsafe_load(code):
    problems, _ = unsafe_loads(code)
    assert problems, code


def test_the_scanner_accepts_the_safe_forms():
    problems, seen = unsafe_loads(textwrap.dedent("""\
        import pickle, torch, yaml
        class Only(pickle.Unpickler):
            def find_class(self, module, name):
                raise pickle.UnpicklingError(name)
        class Loader(yaml.SafeLoader):
            pass
        Only(f).load()
        torch.load(path, map_location="cpu", weights_only=True)
        yaml.load(text, Loader=Loader)
        yaml.safe_load(text)
    """))
    assert problems == [] and seen == {"torch.load": 1, "restricted_unpickler": 1, "yaml.load": 1}


def test_no_unsafe_deserialisation_anywhere_in_the_code():
    files = sorted(p for d in SOURCE_DIRS for p in (helpers.REPO / d).rglob("*.py"))
    assert len(files) > 50
    found: dict[str, list[str]] = {}
    totals = {"torch.load": 0, "restricted_unpickler": 0, "yaml.load": 0}
    for path in files:
        problems, seen = unsafe_loads(path.read_text())
        if problems:
            found[str(path.relative_to(helpers.REPO))] = problems
        totals = {k: totals[k] + seen[k] for k in totals}
    assert found == {}
    # Not vacuous: the one torch.load (core/weights_io.py), the CIFAR batch unpickler (core/datasets/
    # formats.py) and the sweep-file YAML loader (sweep/config_schema.py) were seen and found safe.
    assert all(totals[k] >= 1 for k in totals), totals


class _Payload:
    """Unpickling this runs os.mkdir(target): the classic pickle exploit, made harmless and observable."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return os.mkdir, (str(self.target),)


def test_a_malicious_torch_file_is_refused_without_running_it(tmp_path, monkeypatch, capsys):
    import torch

    target = tmp_path / "pwned"
    torch.save({"layer.weight": torch.ones(4, 4), "extra": _Payload(target)}, tmp_path / "evil.pt")
    monkeypatch.chdir(tmp_path)
    assert main(["inspect", "evil.pt"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    # Refused as bad input, one line naming the file and the refused global (never torch's advice to
    # retry with weights_only=False).
    assert len(err) == 1 and err[0].startswith("tailsweep: error: evil.pt: "), err
    assert "pickled Python objects (posix.mkdir)" in err[0] and "weights_only" not in err[0], err
    assert not target.exists()                      # the payload never ran


def test_a_malicious_cifar_batch_is_refused_without_running_it(tmp_path):
    import pickle

    from core.datasets.formats import read_cifar_batch

    target = tmp_path / "pwned"
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({"data": _Payload(target), "labels": [0]}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="which a data batch never needs"):
        read_cifar_batch(tmp_path / "data_batch_1")
    assert not target.exists()


# ---------------------------------------------------------------- names and paths stay under the root
HOSTILE_NAMES = ["..", ".", "../escape", "a/../../b", "a/b", "/etc", "a\\b", "x\0y", "~root", "", " x", "x y",
                 ".hidden", "-rf", "ｘ", "a" * 101, "a\nb", "$HOME", "*", "a:b"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n)[:20] for n in HOSTILE_NAMES])
def test_hostile_sweep_names_are_refused_everywhere(name, tmp_path):
    assert check_sweep_name(name) is not None
    layout = Layout(tmp_path / "root")
    with pytest.raises(ValueError, match="invalid sweep name"):
        layout.sweep_dir(name)
    with pytest.raises(ValueError, match="invalid sweep name"):
        TrialStore(layout, name)
    assert not (tmp_path / "root").exists()


def test_every_accepted_name_stays_inside_the_sweeps_folder(tmp_path):
    layout = Layout(tmp_path / "root")
    sweeps = (layout.root / "sweeps").resolve()
    alphabet = "aZ09._-/\\~$ \0\n:" + "ｘé"
    rng = random.Random(0)
    candidates = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(5000)]
    accepted = [n for n in candidates + ["quick", "paper-mnist-fcn", "v1.2_b", "a" * 100] if check_sweep_name(n) is None]
    assert len(accepted) > 100
    for name in accepted:
        folder = layout.sweep_dir(name).resolve()
        assert folder.parent == sweeps and folder.name == name, name


@pytest.mark.parametrize("spec_hash", ["../../etc", "ABCDEF0123", "", "0" * 7, "0" * 65, "0123abcd/..", "0123abcg"])
def test_trial_directories_are_hex_hashes_only(spec_hash, tmp_path):
    with pytest.raises(ValueError, match="spec_hash: not a hex hash"):
        Layout(tmp_path).trial_dir("ok", spec_hash)


@pytest.mark.parametrize("tag", ["../final", "final/../../x", "it", "it-1", "FINAL", "avg.safetensors", ""])
def test_snapshot_files_have_fixed_names_only(tag):
    with pytest.raises(ValueError, match="tag: unknown value"):
        snapshots.check_snapshot_tag(tag)


@pytest.mark.parametrize("argv", [["resume", "../escape"], ["status", "../escape"], ["sync", "../escape"],
                                  ["report", "../escape"], ["export", "../escape", "--out", "bundle"]],
                         ids=lambda argv: argv[0])
def test_commands_refuse_a_name_that_leaves_the_root(argv, tmp_path, monkeypatch, capsys):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert main([*argv, "--storage", str(tmp_path / "cwd" / "root")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert err == ["tailsweep: error: NAME: invalid sweep name '../escape' (allowed: letters, digits, '-', '_', "
                   "'.'; must start with a letter or digit; at most 100 characters)"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd"] and not any((tmp_path / "cwd").iterdir())


# ---------------------------------------------------------------- what listens on the network
def _ray_core(cmdline: str) -> bool:
    """Ray's own servers: GCS, raylet, core workers (``ray::...``, the runtime-env agent among them)."""
    return "/ray/core/src/ray/" in cmdline or cmdline.startswith("ray::")


@pytest.mark.timeout(180)
def test_embedded_ray_keeps_its_dashboard_off_and_exposes_only_its_own_servers(tmp_path):
    """`tailsweep run` starts Ray through launch.init_ray. Its dashboard (an HTTP API that can submit jobs)
    must be off. Ray 2.60 binds its own gRPC servers to every interface and has no setting to change that
    (docs/reliability.md says what to do on a shared host); the test pins that nothing else listens beyond
    loopback: no dashboard, no metrics or other HTTP endpoint, and the driver itself only as Ray's worker."""
    script = textwrap.dedent("""\
        import sys, time
        from pathlib import Path
        from sweep.launch import init_ray
        init_ray()
        Path(sys.argv[1]).touch()
        time.sleep(120)
    """)
    (tmp_path / "ray_up.py").write_text(script)
    proc = helpers.Spawned([sys.executable, str(tmp_path / "ray_up.py"), str(tmp_path / "up")], tmp_path / "ray.log")
    try:
        helpers.wait_for(lambda: (tmp_path / "up").exists(), 120, "embedded Ray up", proc=proc)
        tree = {p.pid: p for p in proc.watch()}
        tree = {pid: helpers.process_table().get(pid, p) for pid, p in tree.items()}   # titles set by now
        listeners = helpers.listening(tree)
        assert listeners                                            # Ray is up and listening: not vacuous
        exposed = [(pid, tree[pid].cmdline[:70], host, port) for pid, host, port in listeners
                   if host not in ("127.0.0.1", "::1")]
        beyond_ray = [e for e in exposed if not (_ray_core(e[1]) or e[0] == proc.pid)]
        assert beyond_ray == [], beyond_ray
        assert not [e for e in listeners if e[2] == 8265]           # Ray's dashboard port: nothing there
        dashboards = [p.cmdline for p in tree.values() if "dashboard/dashboard.py" in p.cmdline]
        assert all("--host=127.0.0.1" in cmd for cmd in dashboards), dashboards   # Ray's job API: loopback
    finally:
        proc.kill_all()
