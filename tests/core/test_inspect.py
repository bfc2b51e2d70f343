"""Weights files, core.inspect and `tailsweep inspect` end to end, on real safetensors and torch files."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from scipy.stats import levy_stable
from torch import nn

from core.compress import method_view, prunable_fraction
from core.inspect import VARIANTS, inspect_weights
from core.tails import estimate_alpha, layer_samples
from core.weights_io import WeightsFileError, load_weights, order_metadata
from sweep.cli import main

REPO = Path(__file__).resolve().parents[2]


def fcn_state(widths=(64, 48, 32, 10), seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    layers = [nn.Linear(a, b, bias=False) for a, b in zip(widths[:-1], widths[1:])]
    model = nn.Sequential(*[m for layer in layers for m in (layer, nn.ReLU())][:-1])
    return model.state_dict()  # keys 0.weight, 2.weight, 4.weight


def cnn_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(16 * 4 * 4, 10))
    return model.state_dict()  # weights and biases


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("weights")
    paths = {}
    sd = cnn_state()
    paths["safetensors"] = d / "cnn.safetensors"
    save_file(sd, str(paths["safetensors"]))
    paths["torch"] = d / "cnn.pt"
    torch.save(sd, paths["torch"])
    paths["legacy"] = d / "legacy.pt"
    torch.save(fcn_state(), paths["legacy"], _use_new_zipfile_serialization=False)
    whole = nn.Sequential(nn.Linear(4, 4))
    paths["model"] = d / "model.pt"
    torch.save(whole, paths["model"])
    paths["list"] = d / "list.pt"
    torch.save([torch.zeros(2, 2)], paths["list"])
    paths["mixed"] = d / "mixed.pt"
    torch.save({"w": torch.zeros(4, 4), "epoch": 3}, paths["mixed"])
    paths["nothing"] = d / "empty_dict.pt"
    torch.save({}, paths["nothing"])
    paths["biases"] = d / "biases.safetensors"
    save_file({"b": torch.zeros(5)}, str(paths["biases"]))
    raw = paths["torch"].read_bytes()
    paths["trunc_torch"] = d / "trunc.pt"
    paths["trunc_torch"].write_bytes(raw[: len(raw) // 2])
    raw = paths["safetensors"].read_bytes()
    paths["trunc_safetensors"] = d / "trunc.safetensors"
    paths["trunc_safetensors"].write_bytes(raw[: len(raw) - 100])
    paths["junk"] = d / "junk.bin"
    paths["junk"].write_bytes(np.random.default_rng(0).bytes(4096))
    paths["text"] = d / "notes.txt"
    paths["text"].write_text("not weights\n")
    paths["empty"] = d / "empty.safetensors"
    paths["empty"].write_bytes(b"")
    paths["missing"] = d / "missing.safetensors"
    paths["directory"] = d
    return paths


# --- core.weights_io --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["safetensors", "torch"])
def test_load_weights_round_trip_in_model_order(files, kind):
    loaded = load_weights(files[kind])
    expected = cnn_state()
    if kind == "torch":
        assert list(loaded) == list(expected)  # a state dict keeps its order
    else:  # safetensors keeps no order: names sorted with numbers compared as numbers
        assert list(loaded) == ["0.bias", "0.weight", "2.bias", "2.weight", "5.bias", "5.weight"]
    for name, tensor in expected.items():
        assert torch.equal(loaded[name], tensor)


def test_legacy_torch_format(files):
    loaded = load_weights(files["legacy"])
    assert list(loaded) == ["0.weight", "2.weight", "4.weight"]


def test_safetensors_order_numbers_compare_numerically(tmp_path):
    sd = {f"net.{i}.weight": torch.full((2, 2), float(i)) for i in range(12)}
    save_file(sd, str(tmp_path / "m.safetensors"))  # stored sorted by name: net.10 before net.2
    assert list(load_weights(tmp_path / "m.safetensors")) == list(sd)


def test_safetensors_order_from_order_metadata(tmp_path):
    # VGG-style names, where sorting would put the classifier (the last layer) first.
    sd = {"features.0.weight": torch.ones(3, 3), "features.3.weight": torch.ones(3, 3),
          "classifier.weight": torch.ones(2, 3)}
    save_file(sd, str(tmp_path / "plain.safetensors"))
    assert list(load_weights(tmp_path / "plain.safetensors"))[0] == "classifier.weight"
    save_file(sd, str(tmp_path / "vgg.safetensors"), metadata=order_metadata(sd))
    assert list(load_weights(tmp_path / "vgg.safetensors")) == list(sd)
    report = inspect_weights(load_weights(tmp_path / "vgg.safetensors"))
    assert [x.role for x in report.layers] == ["first", "hidden", "last"]


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"),
    ("directory", "not a regular file"),
    ("empty", "empty file"),
    ("trunc_torch", "not a readable torch file"),
    ("trunc_safetensors", "not a readable safetensors or torch file"),
    ("junk", "not a readable safetensors or torch file"),
    ("text", "not a readable safetensors or torch file"),
    ("model", r"pickled Python objects \(torch.nn.modules.container.Sequential\)"),
    ("list", "not a state dict: the file holds a list"),
    ("mixed", "not a state dict: entry 'epoch' holds a value of type int"),
    ("nothing", "holds no tensors"),
])
def test_unusable_files_raise_one_line_value_error(files, kind, message):
    with pytest.raises(WeightsFileError, match=message) as info:
        load_weights(files[kind])
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert text.startswith(f"{files[kind]}: ") and "\n" not in text


# --- core.inspect -----------------------------------------------------------------------------------

def test_roles_shapes_and_skipped_tensors():
    sd = cnn_state()
    report = inspect_weights(sd)
    assert [(x.name, x.role, x.shape) for x in report.layers] == [
        ("0.weight", "first", (8, 1, 3, 3)), ("2.weight", "hidden", (16, 8, 3, 3)), ("5.weight", "last", (10, 256))]
    assert report.skipped == ("0.bias", "2.bias", "5.bias")
    assert [x.index for x in report.layers] == [0, 1, 2]


def test_values_are_the_estimators_on_each_roles_view():
    sd = fcn_state()
    report = inspect_weights(sd, seed=3)
    for layer, (name, w) in zip(report.layers, sd.items()):
        samples = layer_samples(w, layer.role)  # the last layer's rows are its input units
        assert layer.alphas["multi"].alpha_raw == estimate_alpha(samples, seed=3).alpha_raw
        # uni, norms and hill first remove each column's median of the samples-as-rows view
        centred = samples.numpy() - np.median(samples.numpy(), axis=0)
        assert layer.alphas["uni"].alpha_raw == estimate_alpha(centred.reshape(-1), seed=3).alpha_raw
        assert layer.alphas["hill"].alpha_raw == estimate_alpha(centred.reshape(-1), "hill", center="median").alpha_raw
        for method, value in layer.prunable.items():
            assert value == prunable_fraction(method_view(w, method, layer.role), method, 0.1)
    last = report.layers[-1]
    assert last.role == "last" and last.alphas["multi"].alpha_raw != estimate_alpha(sd["4.weight"], seed=3).alpha_raw


def test_known_answers_heavy_tailed_and_gaussian_layers():
    heavy = torch.from_numpy(levy_stable.rvs(1.5, 0.0, size=(2048, 512), random_state=100)).float()
    gauss = torch.from_numpy(np.random.default_rng(0).standard_normal((512, 512)))
    report = inspect_weights({"a.weight": heavy, "b.weight": gauss, "c.weight": torch.randn(10, 64)})
    a, b = report.layers[0], report.layers[1]
    assert abs(a.alphas["multi"].alpha_raw - 1.5) <= 3 * 0.040  # docs/science.md: per-draw sd 0.040
    assert abs(a.alphas["uni"].alpha_raw - 1.5) <= 0.03
    assert abs(b.alphas["multi"].alpha - 2.0) <= 0.03 and b.alphas["multi"].alpha <= 2.0
    assert abs(b.prunable["magnitude"] - 0.2653) <= 0.005  # analytic Gaussian value at eps = 0.1
    assert a.prunable["magnitude"] > 0.6 > b.prunable["magnitude"]  # heavy tails prune further


def test_unestimable_layers_are_reported_not_fatal():
    sd = {"tiny.weight": torch.randn(2, 3), "nan.weight": torch.full((8, 8), math.nan),
          "zero.weight": torch.zeros(6, 6), "out.weight": torch.randn(10, 32)}
    report = inspect_weights(sd)
    tiny, bad, zero, _ = report.layers
    assert tiny.alphas["multi"] is None and tiny.alphas["uni"] is not None
    assert any("at least 4" in note for note in tiny.notes)
    assert all(v is None for v in bad.alphas.values()) and all(v is None for v in bad.prunable.values())
    assert any("NaN or inf" in note for note in bad.notes)
    assert zero.alphas["multi"].alpha_raw == math.inf and zero.alphas["multi"].alpha == 2.0
    assert zero.prunable["magnitude"] is None and zero.notes
    assert json.loads(json.dumps(report.to_dict(), allow_nan=False))["layers"][2]["alpha"]["multi"] == {
        "alpha": 2.0, "alpha_raw": "inf"}


def test_no_weight_tensors_and_bad_eps():
    assert inspect_weights({"bias": torch.zeros(3), "steps": torch.zeros(4, 4, dtype=torch.long)}).layers == ()
    with pytest.raises(ValueError, match="eps"):
        inspect_weights(fcn_state(), eps=1.5)


# --- the CLI ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["safetensors", "torch"])
def test_cli_prints_a_table(files, kind, capsys):
    assert main(["inspect", str(files[kind])]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"{files[kind]}: 3 weight tensors")
    assert "alpha multi" in lines[1] and "node" in lines[1]
    for name, role, shape in [("0.weight", "first", "8x1x3x3"), ("2.weight", "hidden", "16x8x3x3"),
                              ("5.weight", "last", "10x256")]:
        assert any(name in ln and role in ln and shape in ln for ln in lines[3:6])
    assert "skipped (not 2-D/4-D float): 0.bias, 2.bias, 5.bias" in out


def test_cli_table_shows_every_method_with_the_reports_numbers(files, capsys):
    assert main(["inspect", str(files["torch"]), "--eps", "0.316"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[1].split(), [line.split() for line in lines[3:6]]
    assert header[-4:] == ["magn", "sv", "node", "neuron"]
    report = inspect_weights(load_weights(files["torch"]), eps=0.316)
    for row, layer in zip(rows, report.layers):
        assert len(row) == len(header)     # "alpha multi" is two words over "a (raw)", two cells
        assert [float(cell) for cell in row[-4:]] == pytest.approx(
            [layer.prunable[m] for m in ("magnitude", "singular", "node", "neuron")], abs=5.01e-4)   # 3 decimals


def test_cli_json_matches_the_report(files, capsys):
    assert main(["inspect", str(files["torch"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = inspect_weights(load_weights(files["torch"])).to_dict()
    assert data["file"] == str(files["torch"])
    assert data["layers"] == expected["layers"]
    assert [x["role"] for x in data["layers"]] == ["first", "hidden", "last"]
    assert set(data["layers"][0]["alpha"]) == set(VARIANTS)
    assert set(data["layers"][0]["prunable"]) == {"magnitude", "singular", "node", "neuron"}


@pytest.mark.parametrize("kind", ["missing", "directory", "empty", "trunc_torch", "trunc_safetensors", "junk",
                                  "text", "model", "list", "mixed", "nothing", "biases"])
def test_cli_bad_files_exit_2_with_one_line(files, kind, capsys):
    assert main(["inspect", str(files[kind])]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tailsweep: error: ") and str(files[kind]) in lines[0]
    assert "Traceback" not in captured.err


def test_cli_bad_eps(files, capsys):
    assert main(["inspect", str(files["torch"]), "--eps", "0"]) == 2
    assert "--eps" in capsys.readouterr().err


def test_python_dash_m_sweep_inspect(files):
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled", "MLFLOW_DISABLE_TELEMETRY": "true"}
    ok = subprocess.run([sys.executable, "-m", "sweep", "inspect", str(files["safetensors"]), "--json"],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert [x["name"] for x in json.loads(ok.stdout)["layers"]] == ["0.weight", "2.weight", "5.weight"]
    bad = subprocess.run([sys.executable, "-m", "sweep", "inspect", str(files["trunc_safetensors"])],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr


def test_plain_pickle_is_refused_without_a_protocol_warning(tmp_path):
    """torch.load warned 'Detected pickle protocol 4' (two stderr lines) before the one-line error."""
    import pickle
    import warnings

    path = tmp_path / "plain.pkl"
    with path.open("wb") as f:
        pickle.dump({"w": [1.0, 2.0]}, f, protocol=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(WeightsFileError, match="not a readable safetensors or torch file"):
            load_weights(path)
    assert [str(w.message) for w in caught] == []
