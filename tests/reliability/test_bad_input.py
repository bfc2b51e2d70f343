"""Bad input: each malformed sweep file, flag or model file gets its documented one-line error(s),
exit code 2, no traceback, nothing started and nothing written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweep.cli import main
from sweep.errors import EXIT_BAD_INPUT
from tests.conftest import tiny_sweep_text

GOOD = tiny_sweep_text("bad-input")


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


# (case id, sweep file text, the key path + message that must be printed)
SWEEP_FILES = [
    ("yaml-syntax", "name: [unclosed\ngrid: {}\n", "line 2, column 5: invalid YAML: expected ',' or ']'"),
    ("yaml-duplicate-key", GOOD + "grid: {eta_over_b: [0.1]}\n", "invalid YAML: duplicate key 'grid'"),
    ("top-level-list", "- name\n- grid\n", "top level: must be a mapping of sections, got a list"),
    ("empty-file", "", "top level: must be a mapping of sections, got an empty file"),
    ("unknown-top-key", GOOD + "gird: {}\n", "gird: unknown key; did you mean 'grid'?"),
    ("unknown-section-key", edit("model: {arch: fcn, depth: 3}", "model: {arch: fcn, depht: 3}"),
     "model.depht: unknown key; did you mean 'depth'? (allowed: arch, depth, width, parametrization)"),
    ("analysis-unknown-method", GOOD + "analysis: {method: neurons}\n",
     "analysis.method: unknown value 'neurons' (allowed: magnitude, singular, node, neuron)"),
    ("analysis-unknown-field", GOOD + "analysis: {epsilon: 0.3}\n", "analysis.epsilon: unknown field (allowed: method, eps,"),
    ("analysis-min-train-acc", GOOD + "analysis: {min_train_acc: 1.5}\n", "analysis.min_train_acc: must be a number in [0, 1]"),
    ("noise-without-scale", edit("max_iters: 200", "max_iters: 200, noise: row"),
     "train.noise_scale: required with noise 'row'"),
    ("noise-alpha-out-of-range", edit("max_iters: 200", "max_iters: 200, noise: row, noise_scale: 0.1, noise_alpha: 2.5"),
     "train.noise_alpha: must be a number in (0, 2], got 2.5"),
    ("stop-acc-out-of-range", edit("max_iters: 200", "max_iters: 200, stop_acc: 0"), "train.stop_acc: must be a number in (0, 1]"),
    ("mean-field-depth", edit("model: {arch: fcn, depth: 3}", "model: {arch: fcn, depth: 3, parametrization: mean_field}"),
     "model.parametrization: 'mean_field' needs arch 'fcn' with depth 2"),
    ("unknown-resources-key", edit("max_failures: 0", "max_failures: 0, max_concurent: 2"),
     "resources.max_concurent: unknown key; did you mean 'max_concurrent'?"),
    ("missing-name", edit("name: bad-input\n", ""), "name: required key missing"),
    ("missing-grid", GOOD.split("grid:")[0], "grid: required key missing"),
    ("missing-eta-axis", edit("  eta_over_b: [0.001, 0.004]\n", ""), "grid.eta_over_b: required axis missing"),
    ("bool-is-not-a-number", edit("max_iters: 200", "max_iters: true"),
     "train.max_iters: must be an integer, got True (true/false is not a number)"),
    ("string-in-numeric-axis", edit("eta_over_b: [0.001, 0.004]", "eta_over_b: [0.001, fast]"),
     "grid.eta_over_b[1]: must be a number, got 'fast'"),
    ("negative-eta", edit("eta_over_b: [0.001, 0.004]", "eta_over_b: [0.001, -0.004]"),
     "grid.eta_over_b[1]: must be a finite number > 0, got -0.004"),
    ("zero-width", edit("width: [16, 32]", "width: [0, 32]"), "grid.width[0]: must be an integer >= 1, got 0"),
    ("nan", edit("max_iters: 200", "max_iters: 200, loss_threshold: .nan"),
     "train.loss_threshold: must be a finite number, got nan"),
    ("zero-batch-size", edit("batch_size: [10]", "batch_size: [0]"),
     "grid.batch_size[0]: must be an integer >= 1, got 0"),
    ("empty-axis", edit("width: [16, 32]", "width: []"), "grid.width: empty axis"),
    ("duplicate-axis-values", edit("width: [16, 32]", "width: [16, 32, 16]"),
     "grid.width: duplicate values 16 (each value once)"),
    ("duplicate-after-conversion", edit("eta_over_b: [0.001, 0.004]", "eta_over_b: [1e-3, 0.001]"),
     "grid.eta_over_b: duplicate values 0.001"),
    ("scalar-axis", edit("seed: [0]", "seed: 0"), "grid.seed: must be a list of values, got 0"),
    ("unknown-axis", edit("width: [16, 32]", "widht: [16, 32]"),
     "grid.widht: unknown axis; did you mean 'width'?"),
    ("fixed-and-swept", edit("model: {arch: fcn, depth: 3}", "model: {arch: fcn, depth: 3, width: 8}"),
     "grid.width: swept here and also fixed at model.width (keep one)"),
    ("unknown-arch", edit("arch: fcn", "arch: resnet"), "model.arch: unknown value 'resnet' (allowed: fcn, vgg11)"),
    ("unknown-dataset-in-grid", edit("seed: [0]", "seed: [0]\n  dataset: [synthetic, imagenet]").replace(
        "dataset: synthetic, ", ""), "grid.dataset[1]: unknown value 'imagenet' (allowed: mnist5k, mnist, cifar10"),
    ("unknown-method", edit("methods: [magnitude, singular, node]", "methods: [magnitude, random]"),
     "compress.methods: unknown value 'random' (allowed: magnitude, singular, node, neuron)"),
    ("ratio-above-one", edit("ratios: [0.0, 0.5]", "ratios: [0.0, 1.5]"),
     "compress.ratios: values must lie in [0, 1], got [1.5]"),
    ("ratio-below-zero", edit("ratios: [0.0, 0.5]", "ratios: [-0.1, 0.5]"),
     "compress.ratios: values must lie in [0, 1], got [-0.1]"),
    ("depth-for-vgg", edit("arch: fcn", "arch: vgg11"), "model.depth: only applies to arch 'fcn'"),
    ("fractional-gpus-above-one", edit("gpus_per_trial: 0", "gpus_per_trial: 1.5"),
     "resources.gpus_per_trial: above 1 must be a whole number, got 1.5"),
    ("negative-gpus", edit("gpus_per_trial: 0", "gpus_per_trial: -1"),
     "resources.gpus_per_trial: must be greater than or equal to 0, got -1"),
    ("zero-concurrency", edit("max_concurrent: 2", "max_concurrent: 0"),
     "resources.max_concurrent: must be greater than or equal to 1, got 0"),
    ("tracking-scheme", GOOD + "tracking: {uri: 'ftp://example.org/mlflow'}\n",
     "tracking.uri: unknown tracking URI scheme in 'ftp://example.org/mlflow' (allowed: sqlite"),
    ("name-with-path-separator", edit("name: bad-input", "name: ../escape"),
     "name: invalid sweep name '../escape' (allowed: letters, digits"),
    ("dataset-root-missing", edit("dataset: synthetic", "dataset: mnist, root: /nonexistent/mnist"),
     "data.root: directory not found: /nonexistent/mnist (download is off"),
    ("dataset-root-absent", edit("dataset: synthetic", "dataset: cifar10"),
     "data.root: dataset 'cifar10' needs a root folder"),
    ("train-device-moved", edit("max_iters: 200", "max_iters: 200, device: cuda"),
     "train.device: moved to resources.device (allowed: auto, cpu, cuda, cuda:N)"),
    ("device-axis-moved", edit("seed: [0]", "seed: [0]\n  device: [cpu, cuda]"),
     "grid.device: moved to resources.device (allowed: auto, cpu, cuda, cuda:N)"),
    ("unknown-resources-device", edit("max_failures: 0", "max_failures: 0, device: tpu"),
     "resources.device: unknown value 'tpu' (allowed: auto, cpu, cuda, cuda:N)"),
]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """The cwd is an empty folder: anything written (a default ./tailsweep root too) would show up here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err.splitlines()


def _assert_nothing_written(sandbox: Path, *keep: str) -> None:
    assert sorted(p.name for p in sandbox.iterdir()) == sorted(keep)


@pytest.mark.parametrize("text, expected", [c[1:] for c in SWEEP_FILES], ids=[c[0] for c in SWEEP_FILES])
def test_bad_sweep_file(text, expected, sandbox, capsys):
    path = sandbox / "sweep.yaml"
    path.write_text(text)
    code, lines = _run(["run", "sweep.yaml", "--storage", str(sandbox / "store")], capsys)
    assert code == EXIT_BAD_INPUT
    assert lines and all(line.startswith("tailsweep: error: sweep.yaml: ") for line in lines), lines
    assert any(expected in line for line in lines), (expected, lines)
    _assert_nothing_written(sandbox, "sweep.yaml")


def test_every_problem_is_reported_at_once(sandbox, capsys):
    text = (GOOD.replace("arch: fcn", "arch: resnet").replace("width: [16, 32]", "width: [16, -32]")
            .replace("max_iters: 200", "max_iters: false") + "gird: {}\n")
    (sandbox / "sweep.yaml").write_text(text)
    code, lines = _run(["run", "sweep.yaml"], capsys)
    assert code == EXIT_BAD_INPUT
    paths = {line.split(": ")[3] for line in lines}
    assert {"train.max_iters", "gird", "grid.width[1]", "model.arch"} <= paths
    _assert_nothing_written(sandbox, "sweep.yaml")


@pytest.mark.parametrize("argv, expected", [
    (["run", "missing.yaml"], "missing.yaml: cannot read the sweep file (No such file or directory)"),
    (["run", "binary.yaml"], "binary.yaml: not a text file"),
    (["run", "good.yaml", "--address", "auto"], "--address auto: a cluster run needs a shared storage path"),
    (["run", "good.yaml", "--tracking-uri", "mlflow.db"], "--tracking-uri: unknown tracking URI scheme in 'mlflow.db'"),
    (["resume", "nope"], "NAME: no sweep 'nope' under"),
    (["status", "a/b"], "NAME: invalid sweep name 'a/b'"),
    (["inspect", "truncated.safetensors"], "truncated.safetensors: not a readable safetensors or torch file"),
    (["inspect", "good.yaml"], "good.yaml: not a readable safetensors or torch file"),
    (["inspect", "list.pt"], "list.pt: not a state dict: the file holds a list, not a mapping of parameter names"),
    (["inspect", "mixed.pt"], "mixed.pt: not a state dict: entry 'n' holds a value of type int, not a tensor"),
    (["inspect", "empty.safetensors"], "empty.safetensors: empty file"),
    # These three were tracebacks with exit 1, the first two after writing the storage root:
    (["run", "good.yaml", "--address", "garbage", "--storage", "st"],
     "--address: unknown value 'garbage' (allowed: auto, HOST:PORT, ray://HOST:PORT)"),
    (["resume", "x", "--address", "host:99999"], "--address: unknown value 'host:99999'"),
    (["run", "good.yaml", "--storage", "empty.safetensors/st"], "is not a folder (allowed: a folder path)"),
], ids=["missing-file", "binary-file", "cluster-without-shared-storage", "bad-tracking-flag", "resume-unknown-name",
        "status-bad-name", "inspect-truncated-safetensors", "inspect-not-a-state-dict", "inspect-torch-list",
        "inspect-non-tensor-entry", "inspect-empty-file", "bad-address", "resume-bad-address",
        "storage-through-a-file"])
def test_bad_command_line(argv, expected, sandbox, capsys):
    (sandbox / "good.yaml").write_text(GOOD)
    (sandbox / "binary.yaml").write_bytes(b"\x80\x81\xfe\xff" * 8)
    from safetensors.torch import save
    import torch
    (sandbox / "truncated.safetensors").write_bytes(save({"w": torch.ones(64, 64)})[:200])
    torch.save([torch.ones(4, 4)], sandbox / "list.pt")
    torch.save({"w": torch.ones(4, 4), "n": 3}, sandbox / "mixed.pt")
    (sandbox / "empty.safetensors").write_bytes(b"")
    made = sorted(p.name for p in sandbox.iterdir())
    code, lines = _run(argv, capsys)
    assert code == EXIT_BAD_INPUT
    assert len(lines) == 1 and expected in lines[0], lines
    _assert_nothing_written(sandbox, *made)


def test_storage_from_the_sweep_file_through_a_file(sandbox, capsys):
    """A sweep file's storage: under an existing file was a mkdir traceback (exit 1)."""
    (sandbox / "blocker").write_text("x")
    (sandbox / "s.yaml").write_text(GOOD + "storage: blocker/runs\n")
    code, lines = _run(["run", "s.yaml"], capsys)
    assert code == EXIT_BAD_INPUT
    assert lines == [f"tailsweep: error: s.yaml: storage: {sandbox / 'blocker'} exists and is not a folder "
                     "(allowed: a folder path)"]
    _assert_nothing_written(sandbox, "blocker", "s.yaml")


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "sweep.yaml").write_text(GOOD.replace("width: [16, 32]", "width: [16, true]"))
    proc = subprocess.run([sys.executable, "-m", "sweep", "run", "sweep.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr.splitlines() == ["tailsweep: error: sweep.yaml: grid.width[1]: must be an integer, got True "
                                        "(true/false is not a number)"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]
