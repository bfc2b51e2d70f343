"""Sweep files -> validated grids of TrialSpecs; run names; the shipped configs; dry run; locations."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec
from sweep.cli import main
from sweep.config import load_sweep, parse_sweep
from sweep.errors import UserError
from sweep.locations import resolve_locations
from sweep.naming import fmt_number, run_name
from tests.conftest import tiny_sweep_text

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def parse(text: str, base: Path = Path("/base")) -> "SweepSpec":  # noqa: F821
    return parse_sweep(text, "s.yaml", base)


def test_grid_is_the_cartesian_product_in_axis_order():
    sweep = parse(tiny_sweep_text(etas=(1.0e-3, 4.0e-3, 8.0e-3), widths=(16, 32)))
    assert [dict(t.coords)["eta_over_b"] for t in sweep.trials] == [1e-3, 1e-3, 4e-3, 4e-3, 8e-3, 8e-3]
    assert [t.spec.model.width for t in sweep.trials] == [16, 32] * 3
    assert sweep.varying == ("eta_over_b", "width")
    for t in sweep.trials:   # fixed sections reach every spec; eta is derived by the spec only
        assert t.spec.train.max_iters == 200 and t.spec.data.dataset == "synthetic"
        assert t.spec.eta == pytest.approx(t.spec.eta_over_b * t.spec.batch_size)
        assert t.spec_hash == t.spec.spec_hash()


def test_trial_level_axes_and_list_valued_axes():
    text = tiny_sweep_text().replace("batch_size: [10]", "batch_size: [10, 20]").replace(
        "methods: [magnitude, singular, node], ", "").replace(
        "  seed: [0]\n", "  seed: [0]\n  methods: [[magnitude], [magnitude, node]]\n")
    sweep = parse(text)
    assert len(sweep.trials) == 2 * 2 * 2 * 2
    assert {t.spec.compress.methods for t in sweep.trials} == {("magnitude",), ("magnitude", "node")}
    assert sorted({round(t.spec.eta, 12) for t in sweep.trials}) == [0.01, 0.02, 0.04, 0.08]   # eta = eta/b * b


def test_yaml_exponent_without_dot_is_a_number():
    # YAML 1.1 reads 1e-3 as text; a sweep file means a number.
    sweep = parse(tiny_sweep_text().replace("[0.001, 0.004]", "[1e-3, 4E-3]"))
    assert [t.spec.eta_over_b for t in sweep.trials[::2]] == [1e-3, 4e-3]


def test_a_larger_grid_keeps_every_existing_trial_identity():
    small = parse(tiny_sweep_text(etas=(1.0e-3,), widths=(16,)))
    big = parse(tiny_sweep_text(etas=(1.0e-3, 2.0e-3), widths=(16, 64)))
    assert {t.spec_hash for t in small.trials} < {t.spec_hash for t in big.trials}
    # names change (more axes vary) but hashes, the identity, do not


def test_hashes_match_specs_built_directly():
    sweep = parse(tiny_sweep_text(etas=(1.0e-3,), widths=(16,)))
    doc = sweep.document
    direct = TrialSpec(eta_over_b=1e-3, batch_size=10, seed=0, data=DataSpec.from_dict(doc["data"]),
                       model=ModelSpec(arch="fcn", depth=3, width=16), train=TrainSpec.from_dict(doc["train"]),
                       compress=CompressSpec.from_dict(doc["compress"]))
    assert sweep.trials[0].spec == direct and sweep.trials[0].spec_hash == direct.spec_hash()


@pytest.mark.parametrize("value, text", [(1e-3, "1e-3"), (1.2e-2, "1.2e-2"), (4e-3, "4e-3"), (0.5, "0.5"),
                                         (50, "50"), (0.0, "0"), (2.5e5, "2.5e5"), (0.1, "0.1")])
def test_fmt_number(value, text):
    assert fmt_number(value) == text


def test_run_names_put_varying_axes_first_and_are_unique():
    sweep = parse(tiny_sweep_text(etas=(1.0e-3,), widths=(16, 32)))
    assert [t.name for t in sweep.trials] == ["w16-etab1e-3-s0-fcn3-synthetic", "w32-etab1e-3-s0-fcn3-synthetic"]
    spec = sweep.trials[0].spec
    assert run_name(spec) == "etab1e-3-w16-s0-fcn3-synthetic"
    assert run_name(spec, ("batch_size", "depth", "post_converge_iters")).startswith("b10-fcn3-post_converge_iters50-")


def test_names_that_would_collide_get_a_hash_suffix():
    sweep = parse(tiny_sweep_text(etas=(0.1234567890123, 0.1234567890124), widths=(16,)))
    names = [t.name for t in sweep.trials]
    assert len(set(names)) == 2
    assert all(n.endswith(t.spec_hash[:6]) for n, t in zip(names, sweep.trials))


def test_relative_paths_are_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "data").mkdir()
    text = tiny_sweep_text().replace("dataset: synthetic", "dataset: mnist, root: data") + "storage: runs\n"
    sweep = parse(text, base=tmp_path)
    assert {t.spec.data.root for t in sweep.trials} == {str(tmp_path / "data")}
    assert sweep.storage == str(tmp_path / "runs")
    again = parse(sweep.to_yaml(), base=Path("/elsewhere"))   # the saved copy means the same trials
    assert [t.spec_hash for t in again.trials] == [t.spec_hash for t in sweep.trials]


def test_locations_flag_beats_file_beats_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = parse(tiny_sweep_text())
    filed = parse(tiny_sweep_text() + "storage: /from/file\ntracking: {uri: 'http://127.0.0.1:5000'}\n")
    default = resolve_locations(None, None, plain)
    assert default.layout.root == tmp_path / "tailsweep" and not default.storage_given
    assert default.tracking.uri == f"sqlite:///{tmp_path / 'tailsweep' / 'mlflow.db'}"
    from_file = resolve_locations(None, None, filed)
    assert from_file.layout.root == Path("/from/file") and from_file.storage_given
    assert from_file.tracking.uri == "http://127.0.0.1:5000"
    flags = resolve_locations(str(tmp_path / "flag"), "sqlite:////tmp/x.db", filed)
    assert flags.layout.root == tmp_path / "flag" and flags.tracking.uri == "sqlite:////tmp/x.db"


@pytest.mark.parametrize("name, trials, varying", [
    ("quick", 27, ("eta_over_b", "width", "seed")),
    ("noise-width", 30, ("width", "noise_scale", "seed")),
    ("mean-field", 15, ("width", "seed")),
    ("paper-mnist-fcn", 120, ("eta_over_b", "batch_size", "depth", "seed")),
    ("paper-cifar10", 48, ("eta_over_b", "batch_size", "seed")),
    ("width-scan", 54, ("eta_over_b", "width", "seed")),
])
def test_shipped_configs(name, trials, varying):
    sweep = load_sweep(CONFIGS / f"{name}.yaml")
    assert sweep.name == name and len(sweep.trials) == trials and sweep.varying == varying
    assert len({t.spec_hash for t in sweep.trials}) == len({t.name for t in sweep.trials}) == trials


def test_quick_demo_spans_the_measured_heavy_tail_range():
    sweep = load_sweep(CONFIGS / "quick.yaml")
    axes = dict(sweep.axes)
    # three levels of each axis and three replicates: every claim can get an interval from the data
    assert axes["eta_over_b"] == (6e-3, 8e-3, 1e-2) and axes["width"] == (64, 128, 256)
    assert axes["seed"] == (0, 1, 2)
    spec = sweep.trials[0].spec
    assert (spec.data.dataset, spec.model.arch, spec.model.depth, spec.batch_size) == ("mnist5k", "fcn", 3, 50)
    assert spec.train.max_iters < TrialSpec(eta_over_b=1.0).train.max_iters   # shortened, said in the file
    assert (sweep.resources.cpus_per_trial, sweep.resources.max_concurrent) == (1, 2)


def test_gpu_configs_ask_for_packed_gpus():
    for name in ("paper-mnist-fcn", "paper-cifar10", "width-scan"):
        assert 0 < load_sweep(CONFIGS / f"{name}.yaml").resources.gpus_per_trial < 1


def test_dry_run_prints_every_trial_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(tiny_sweep_text(etas=(1.0e-3, 2.0e-3), widths=(16, 32)))
    assert main(["run", "s.yaml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    sweep = load_sweep(tmp_path / "s.yaml")
    for t in sweep.trials:
        assert any(t.spec_hash in line and t.name in line for line in out.splitlines())
    assert "4 trials = 2 eta_over_b x 1 batch_size x 2 width x 1 seed" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_every_axis_name_is_a_spec_field():
    from sweep.config import AXIS_ADAPTERS, FIELD_SECTION, TRIAL_AXES
    assert set(AXIS_ADAPTERS) == set(TRIAL_AXES) | set(FIELD_SECTION)


@pytest.mark.parametrize("axis, value, expected", [
    ("batch_size", "7", 7), ("seed", "3", 3), ("width", "9", 9), ("depth", "5", 5), ("max_iters", "11", 11),
    ("snapshot_every", "5", 5), ("ratios", "[0.25, 1]", (0.25, 1.0)), ("prune_last", "true", True),
    ("loss_threshold", "1", 1.0), ("dataset", "mnist5k", "mnist5k"), ("n_train", "100", 100),
])
def test_any_spec_field_can_be_an_axis(axis, value, expected):
    sweep = parse(f"name: m\ngrid:\n  eta_over_b: [0.01]\n  {axis}: [{value}, null]\n"
                  if axis in ("n_train", "width", "depth") else f"name: m\ngrid:\n  eta_over_b: [0.01]\n  {axis}: [{value}]\n")
    spec = sweep.trials[0].spec
    section = next((getattr(spec, s) for s in ("data", "model", "train", "compress") if hasattr(getattr(spec, s), axis)),
                   spec)
    got = getattr(section, axis)
    assert got == expected and type(got) is type(expected)


def test_sizes_beyond_the_data_are_bad_input_not_failed_trials():
    """batch_size > training set (or n_train beyond mnist5k's split) passed validation; each trial then
    failed in Ray (retried, exit 1, storage written) instead of exit 2 before anything started."""
    from core.datasets.mnist5k import N_TEST
    from core.datasets.synthetic import N_TRAIN
    from sweep.config import OWN_SPLITS
    from sweep.errors import UserError

    assert OWN_SPLITS == {"mnist5k": (5_000 - N_TEST, N_TEST), "synthetic": (N_TRAIN, None)}
    text = tiny_sweep_text().replace("batch_size: [10]", "batch_size: [10, 500]")  # synthetic n_train 240
    with pytest.raises(UserError) as info:
        parse(text)
    assert info.value.lines == ["s.yaml: grid.batch_size[1]: must be an integer in [1, 240] "
                                "(the training set size), got 500"]
    text = tiny_sweep_text().replace("n_train: 240, n_test: 120", "n_test: 120")  # synthetic default size
    assert len(parse(text.replace("batch_size: [10]", f"batch_size: [{N_TRAIN}]")).trials) == 4
    with pytest.raises(UserError, match=r"grid.batch_size\[0\]: must be an integer in \[1, 2000\]"):
        parse(text.replace("batch_size: [10]", f"batch_size: [{N_TRAIN + 1}]"))
    text = tiny_sweep_text().replace("dataset: synthetic, n_train: 240, n_test: 120, dim: 16, classes: 4, "
                                     "teacher_width: 16", "dataset: mnist5k, n_train: 4001, n_test: 1001")
    with pytest.raises(UserError) as info:
        parse(text)
    assert info.value.lines == [
        "s.yaml: data.n_train: 4001 exceeds the 4000 examples mnist5k has for that split (allowed: 1..4000)",
        "s.yaml: data.n_test: 1001 exceeds the 1000 examples mnist5k has for that split (allowed: 1..1000)"]


def test_vgg11_on_flat_synthetic_inputs_is_bad_input():
    """Passed validation; every trial then failed in Ray ('vgg11 takes inputs of shape ...')."""
    from sweep.errors import UserError

    text = tiny_sweep_text().replace("model: {arch: fcn, depth: 3}", "model: {}").replace(
        "seed: [0]", "seed: [0]\n  arch: [fcn, vgg11]")
    with pytest.raises(UserError) as info:
        parse(text)
    assert info.value.lines == ["s.yaml: grid.arch[1]: vgg11 needs image inputs and synthetic gives flat vectors "
                                "(allowed with vgg11: mnist5k, mnist, cifar10; or arch fcn)"]


@pytest.mark.parametrize("old, new, path", [
    ("max_iters: 200", "max_iters: 200, device: cpu", "train.device"),
    ("seed: [0]", "seed: [0]\n  device: [cuda]", "grid.device"),
])
def test_train_device_is_one_line_naming_resources_device(old, new, path):
    """Placement left the spec: the old key gets one line saying where it went, not an unknown-key list."""
    from sweep.errors import UserError

    with pytest.raises(UserError) as info:
        parse(tiny_sweep_text().replace(old, new))
    assert info.value.lines == [f"s.yaml: {path}: moved to resources.device (allowed: auto, cpu, cuda, cuda:N)"]


def test_a_saved_sweep_file_from_before_the_move_still_loads(tmp_path):
    """The copy `run` saved under the root is read by resume/status/sync/report: its device moves over."""
    from sweep.config import load_saved_sweep

    text = tiny_sweep_text().replace("max_iters: 200", "max_iters: 200, device: cpu")
    (tmp_path / "sweep.yaml").write_text(text)
    saved = load_saved_sweep(tmp_path / "sweep.yaml")
    assert saved.resources.device == "cpu"
    assert [t.spec_hash for t in saved.trials] == [t.spec_hash for t in parse(tiny_sweep_text()).trials]


def test_resources_device_places_trials_without_changing_their_identity():
    placed = parse(tiny_sweep_text().replace("max_failures: 0", "max_failures: 0, device: cuda:1"))
    assert placed.resources.device == "cuda:1"
    assert [t.spec_hash for t in placed.trials] == [t.spec_hash for t in parse(tiny_sweep_text()).trials]


def test_noise_width_demo_is_the_follow_ups_regime():
    sweep = load_sweep(CONFIGS / "noise-width.yaml")
    specs = [t.spec for t in sweep.trials]
    assert {s.model.resolved_depth for s in specs} == {2} and {s.eta for s in specs} == {0.1}
    assert {(s.train.stop_acc, s.train.post_converge_iters, s.train.max_iters) for s in specs} == {(0.95, 0, 20000)}
    noisy = [s for s in specs if s.train.has_noise]
    assert len(noisy) == 15 and {(s.train.noise, s.train.noise_alpha, s.train.noise_scale) for s in noisy} == {
        ("row", 1.75, 0.05)}
    plain = [s for s in specs if not s.train.has_noise]
    assert {s.spec_hash() for s in plain} == {
        TrialSpec.from_dict({**s.to_dict(), "train": {**s.train.to_dict(), "noise": "none", "noise_scale": None}}).spec_hash()
        for s in plain}
    assert "neuron" in specs[0].compress.methods and 0.316 in specs[0].compress.eps
    mean_field = load_sweep(CONFIGS / "mean-field.yaml")
    assert {t.spec.model.parametrization for t in mean_field.trials} == {"mean_field"}


def test_grid_points_that_give_one_spec_are_one_trial_with_a_note(tmp_path, monkeypatch, capsys):
    # No noise: section, so noise_scale 0.05 changes nothing: two grid points per width, one trial each.
    text = tiny_sweep_text(etas=(1.0e-3,), widths=(16, 32)).replace("  seed: [0]\n",
                                                                    "  seed: [0]\n  noise_scale: [0.0, 0.05]\n")
    sweep = parse(text)
    assert len(sweep.trials) == 2 and sweep.grid_points == 4
    assert len({t.spec_hash for t in sweep.trials}) == 2
    assert [dict(t.coords)["noise_scale"] for t in sweep.trials] == [0.0, 0.0]
    assert [[dict(c)["noise_scale"] for c in t.same_points] for t in sweep.trials] == [[0.05], [0.05]]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(text)
    assert main(["run", "s.yaml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 trials from 4 grid points" in out
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: grid point (width {w}, noise_scale 0.05) is the same trial as (width {w}, "
                     f"noise_scale 0.0), {t.spec_hash}: a setting there changes nothing (e.g. noise_scale with "
                     "noise none); it runs once" for w, t in zip((16, 32), sweep.trials)]
    # With noise set, the same grid is four trials.
    noisy = parse(text.replace("train: {", "train: {noise: row, "))
    assert len(noisy.trials) == noisy.grid_points == 4 and all(t.same_points == () for t in noisy.trials)


@pytest.mark.parametrize("analysis, problem", [
    ("{method: singular}", "analysis.method: 'singular' was not measured by any trial of this sweep "
                           "(measured: magnitude, neuron)"),
    ("{method: neuron, eps: 0.2}", "analysis.eps: 0.2 was not measured by any trial of this sweep "
                                   "(measured: 0.1, 0.316)"),
    # A section that leaves eps to the report's default (0.1), in a sweep that measures only 0.316.
    ("{method: neuron}", "analysis.eps: 0.1 was not measured by any trial of this sweep (measured: 0.316); "
                         "it is the report's default: set analysis.eps"),
    ("{eps: 0.316}", "analysis.method: 'magnitude' was not measured by any trial of this sweep (measured: "
                     "neuron); it is the report's default: set analysis.method"),
])
def test_an_analysis_method_or_eps_no_trial_measures_is_bad_input(analysis, problem):
    text = (CONFIGS / "noise-width.yaml").read_text().replace("analysis: {method: neuron, eps: 0.316}",
                                                             f"analysis: {analysis}")
    if "default" in problem:     # the sweep measures neither default
        text = text.replace("eps: [0.1, 0.316]", "eps: [0.316]").replace("methods: [neuron, magnitude]",
                                                                         "methods: [neuron]")
    with pytest.raises(UserError) as err:
        parse(text)
    assert err.value.lines == [f"s.yaml: {problem}"]


def test_a_sweep_without_an_analysis_section_leaves_the_report_options_to_its_flags():
    text = (CONFIGS / "noise-width.yaml").read_text().replace("analysis: {method: neuron, eps: 0.316}\n", "")
    text = text.replace("eps: [0.1, 0.316]", "eps: [0.316]").replace("methods: [neuron, magnitude]", "methods: [neuron]")
    assert "analysis" not in yaml.safe_load(text) and len(parse(text).trials) == 30
