"""A synthetic MLflow store whose every value follows a known formula, so tests know the answers.

Family 'fcn depth 3 / mnist5k': eta/b in ETAS x width in WIDTHS x seed in SEEDS, with one cell missing
(MISSING) and one diverged (DIVERGED); the lowest eta/b is 'capped'. Family 'vgg11 / cifar10': three
trials (fewer than 5: every claim inconclusive). Prunable fractions at eps 0.1 (the replicated store adds
0.316); a non-last layer's fraction is linear in ln(width) with a slope set by method and eps
(PRUNABLE_WIDTH_GAIN). Metrics are logged exactly as the sweep writes them:
core.keys builders, params = TrialSpec.flat() as strings, final metrics at step = iterations.
"""
from __future__ import annotations

import json
import math

from core import keys
from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec

SWEEP = "known"
ETAS = (1e-3, 4e-3, 8e-3, 1.2e-2)
WIDTHS = (64, 256, 1024)
SEEDS = (0, 1)
MISSING = (1.2e-2, 1024, 1)
DIVERGED = (1.2e-2, 64, 1)
VGG_ETAS = (1e-3, 4e-3, 8e-3)
RATIOS = (0.0, 0.5, 0.9)            # pruned accuracy grid
CURVE_RATIOS = (0.8, 0.9)           # error curves: kept fractions 0.2 and 0.1
ERROR_BASE = {0.9: 0.75, 0.8: 0.6}
METHOD_ERROR_FACTOR = {"magnitude": 1.0, "singular": 0.8, "node": 0.6, "neuron": 0.5}
PAPER_METHODS = ("magnitude", "singular", "node")
ITERATIONS = 2000
FINAL_OFFSET = 0.01                 # 'final' weights: alpha shifted, so tests see which set is used
RAW_OFFSET = 0.003


def alpha_of(role: str, etab: float) -> float:
    return {"first": 2 - 20 * etab, "hidden": 2 - 5 * etab, "last": 2 - 40 * etab}[role]


def prunable_of(alpha: float, method: str = "magnitude") -> float:
    return {"magnitude": 0.2653 + 0.3 * (2 - alpha), "singular": 0.05 + 0.1 * (2 - alpha),
            "node": 0.1 + 0.2 * (2 - alpha), "neuron": 0.08 + 0.25 * (2 - alpha)}[method]


# Prunable fractions are logged at these eps: the paper's 0.1, and in the replicated store also the
# follow-up's 0.316 (squared Frobenius error 0.1, configs/noise-width.yaml), where a tolerance that large
# prunes EPS_OFFSET more.
EPS = (0.1,)
REP_EPS = (0.1, 0.316)
EPS_OFFSET = {0.1: 0.0, 0.316: 0.2}
# d prunable / d ln(width) per unit of (2 - alpha), by (method, eps), non-last layers only: rising for
# magnitude at 0.1 (the default width claim holds; 0.15, not slope_of's 0.1, so the error slope with its
# sign flipped is not the answer), falling for magnitude at 0.316 (the claim is contradicted), rising
# twice as fast for neuron at 0.316 (the noise-width demo's setting). Every other (method, eps),
# and every last layer, is flat in width, so node and neuron at 0.1 stay functions of alpha alone (the
# tests of an exact Spearman -1 read them).
PRUNABLE_WIDTH_GAIN = {("magnitude", 0.1): 0.15, ("magnitude", 0.316): -0.05, ("neuron", 0.316): 0.3}


def prunable_slope_of(alpha: float, method: str = "magnitude", eps: float = 0.1) -> float:
    """d prunable / d ln(width) for a non-last layer with this alpha (0 for Gaussian-like layers)."""
    return PRUNABLE_WIDTH_GAIN.get((method, eps), 0.0) * (2 - alpha)


def prunable_at(alpha: float, role: str, width: int, method: str = "magnitude", eps: float = 0.1,
                slope_scale: float = 1.0) -> float:
    """The logged prunable fraction of a layer (before any noise gain): prunable_of at eps 0.1, plus the
    eps offset, plus the width term on non-last layers (0 at width 64)."""
    width_term = 0.0 if role == "last" else slope_scale * prunable_slope_of(alpha, method, eps) * math.log(width / 64)
    return prunable_of(alpha, method) + EPS_OFFSET[eps] + width_term


def slope_of(alpha: float) -> float:
    """d error / d ln(width) for a layer with this alpha (0 for Gaussian-like layers)."""
    return -0.1 * (2 - alpha)


def error_of(alpha: float, ratio: float, width: int, method: str = "magnitude", slope_scale: float = 1.0) -> float:
    return METHOD_ERROR_FACTOR[method] * (ERROR_BASE[ratio] + slope_scale * slope_of(alpha) * math.log(width / 64))


def dense_acc(etab: float) -> float:
    return 0.95 - 3 * etab


def pruned_acc(alpha_median: float, etab: float, ratio: float) -> float:
    return dense_acc(etab) * (1 - ratio ** 2 * (alpha_median - 1.5))


def fcn_layers(width: int) -> list[dict]:
    return [{"index": 0, "name": "net.0.weight", "role": "first", "shape": [width, 784]},
            {"index": 1, "name": "net.2.weight", "role": "hidden", "shape": [width, width]},
            {"index": 2, "name": "net.4.weight", "role": "last", "shape": [10, width]}]


def vgg_layers(width: int) -> list[dict]:
    return [{"index": 0, "name": "features.0.weight", "role": "first", "shape": [width, 3, 3, 3]},
            {"index": 1, "name": "features.3.weight", "role": "hidden", "shape": [2 * width, width, 3, 3]},
            {"index": 2, "name": "classifier.weight", "role": "last", "shape": [10, 512]}]


def spec_for(arch: str, etab: float, width: int, seed: int, noise_scale: float | None = None,
             eps: tuple[float, ...] = EPS) -> TrialSpec:
    model = ModelSpec(arch="fcn", depth=3, width=width) if arch == "fcn" else ModelSpec(arch="vgg11", width=width)
    data = DataSpec(dataset="mnist5k" if arch == "fcn" else "cifar10")
    noise = {} if noise_scale is None else {"noise": "row", "noise_scale": noise_scale}
    return TrialSpec(eta_over_b=etab, batch_size=50, seed=seed, data=data, model=model,
                     train=TrainSpec(max_iters=40000, post_converge_iters=2000, **noise),
                     compress=CompressSpec(ratios=RATIOS, curve_ratios=CURVE_RATIOS, eps=eps))


def final_metrics(etab: float, layers: list[dict], width: int, *, methods: tuple[str, ...] = PAPER_METHODS,
                  eps: tuple[float, ...] = EPS, slope_scale: float = 1.0, prunable_gain: float = 0.0,
                  train_acc: float = 1.0) -> dict[str, float]:
    """slope_scale multiplies every width slope (error and prunable fraction); prunable_gain is added to
    the prunable fraction of every non-last layer (the replicated store's noise effect); train_acc is the
    final train accuracy."""
    m: dict[str, float] = {"iterations": float(ITERATIONS), keys.time_key("train"): 1.0}
    for wset, shift in (("avg", 0.0), ("final", FINAL_OFFSET)):
        alphas = {l["index"]: alpha_of(l["role"], etab) + shift for l in layers}
        for variant, voff in (("multi", 0.0), ("hill", 0.1)):
            vals = {i: a + voff for i, a in alphas.items()}
            for i, a in vals.items():
                m[keys.alpha_key(wset, variant, keys.layer(i))] = a
                m[keys.alpha_key(wset, variant, keys.layer(i), raw=True)] = a + RAW_OFFSET
            ordered = sorted(vals.values())
            aggs = {"median": ordered[len(ordered) // 2], "mean": sum(ordered) / len(ordered), "min": ordered[0]}
            for agg, v in aggs.items():
                m[keys.alpha_key(wset, variant, agg)] = v
                m[keys.alpha_key(wset, variant, agg, raw=True)] = v + RAW_OFFSET
            for l in layers:
                m[keys.alpha_key(wset, variant, f"role_{l['role']}")] = vals[l["index"]]
        for l in layers:
            a = alphas[l["index"]]
            gain = prunable_gain if l["role"] != "last" else 0.0
            for method in methods:
                center = "none" if method == "neuron" else "median"   # neuron is measured uncentred only
                for e in eps:
                    m[keys.prunable_key(wset, method, center, e, l["index"])] = \
                        prunable_at(a, l["role"], width, method, e, slope_scale) + gain
                for r in CURVE_RATIOS:
                    m[keys.error_key(wset, method, center, r, l["index"])] = error_of(a, r, width, method, slope_scale)
        a_med = sorted(alphas.values())[1]
        for method in methods:
            for r in RATIOS:
                m[keys.pruned_key("acc", wset, method, r)] = pruned_acc(a_med, etab, r)
                m[keys.pruned_key("loss", wset, method, r)] = 0.2 + r
        test_acc, test_loss = dense_acc(etab), 0.2 + 10 * etab
        m[keys.eval_key(wset, "train", "acc")], m[keys.eval_key(wset, "test", "acc")] = train_acc, test_acc
        m[keys.eval_key(wset, "train", "loss")], m[keys.eval_key(wset, "test", "loss")] = 1e-4, test_loss
        m[keys.gap_key(wset, "acc")], m[keys.gap_key(wset, "loss")] = test_acc - train_acc, test_loss - 1e-4
    for r in RATIOS:
        m[keys.remaining_key("neuron", r)] = 1 - r
        m[keys.remaining_key("magnitude", r)] = 1 - r
        m[keys.remaining_key("singular", r)] = 2 * (1 - r)
        m[keys.remaining_key("node", r)] = 1 - r
        m[keys.sv_removed_key(r)] = r
    return m


def step_metrics(etab: float, layers: list[dict]) -> list[tuple[str, float, int]]:
    out = [("train/loss", 1.0 / s, s) for s in (200, 400, 2000)]
    out += [("test/acc", dense_acc(etab) - 0.1 / s, s) for s in (1000, 2000)]
    out += [(keys.CURRENT_ALPHA_PREFIX + keys.layer(l["index"]), alpha_of(l["role"], etab) + 100 / s, s)
            for l in layers for s in (1000, 2000)]
    return out


def trials() -> list[dict]:
    """Every run of the store: arch, eta/b, width, seed, outcome."""
    out = []
    for etab in ETAS:
        for width in WIDTHS:
            for seed in SEEDS:
                cell = (etab, width, seed)
                if cell == MISSING:
                    continue
                outcome = "diverged" if cell == DIVERGED else ("capped" if etab == ETAS[0] else "converged")
                out.append({"arch": "fcn", "etab": etab, "width": width, "seed": seed, "outcome": outcome})
    out += [{"arch": "vgg11", "etab": e, "width": 64, "seed": 0, "outcome": "converged"} for e in VGG_ETAS]
    return out


def run_name(t: dict) -> str:
    noise = f"-noise{t['noise_scale']:g}" if t.get("noise_scale") else ""
    return f"etab{t['etab']:g}-w{t['width']}-s{t['seed']}-{t['arch']}{noise}"


def log_store(tracking_uri: str, sweep: str = SWEEP, runs: list[dict] | None = None) -> str:
    """Create the experiment and log every run with a few batched calls each; returns the experiment id."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri)
    exp = client.create_experiment(sweep, tags={keys.TAG_SWEEP: sweep})
    for t in trials() if runs is None else runs:
        spec = spec_for(t["arch"], t["etab"], t["width"], t["seed"])
        layers = fcn_layers(t["width"]) if t["arch"] == "fcn" else vgg_layers(t["width"])
        run = client.create_run(exp, run_name=run_name(t))
        if t["outcome"] == "diverged":
            metrics = [Metric("iterations", 27.0, 0, 27),
                       Metric(keys.eval_key("final", "train", "loss"), math.nan, 0, 27),
                       Metric("train/loss", 2.3, 0, 0), Metric("train/loss", math.inf, 0, 27)]
        else:
            metrics = [Metric(k, v, 0, ITERATIONS) for k, v in final_metrics(t["etab"], layers, t["width"]).items()]
            metrics += [Metric(k, v, 0, s) for k, v, s in step_metrics(t["etab"], layers)]
        tags = [RunTag(keys.TAG_SPEC_HASH, spec.spec_hash()), RunTag(keys.TAG_SWEEP, sweep),
                RunTag(keys.TAG_OUTCOME, t["outcome"]), RunTag(keys.TAG_VERSION, "0.1.0"),
                RunTag(keys.TAG_LAYERS, json.dumps(layers))]
        params = [Param(k, str(v)) for k, v in spec.flat().items()]
        client.log_batch(run.info.run_id, params=params, tags=tags)
        for start in range(0, len(metrics), 1000):
            client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000])
        client.set_terminated(run.info.run_id)
    return exp


# ---------------------------------------------------------------- the replicated store
# Three seeds, so intervals exist and come from replicates. Family 'fcn depth 3 / mnist5k': ETAS x WIDTHS
# x REP_SEEDS, every width slope scaled by slope_scale(seed) (the replicates differ), prunable fractions at
# REP_EPS, one capped trial
# underfit (UNDERFIT, final train acc UNDERFIT_ACC, fit tag 'underfit'). Family '... / noise=row σ=0.05':
# eta/b NOISE_ETA x WIDTHS x REP_SEEDS, non-last prunable fractions raised by noise_gain(seed, width).
# Family 'vgg11 / cifar10': two widths (TWO_WIDTHS) x VGG_ETAS x REP_SEEDS. Runs of OLD_VERSION_WIDTH
# carry no measure-version tag (version 1); the others version 2. Every method, neuron included.
REP_SEEDS = (0, 1, 2)
UNDERFIT = (1e-3, 256, 0)
UNDERFIT_ACC = 0.53
NOISE_ETA, NOISE_SCALE = 8e-3, 0.05
TWO_WIDTHS = (64, 128)
OLD_VERSION_WIDTH = 1024
REP_METHODS = ("magnitude", "singular", "node", "neuron")


def slope_scale(seed: int) -> float:
    return 1.0 + 0.2 * (seed - 1)


def noise_gain(seed: int, width: int) -> float:
    return 0.1 + 0.02 * seed + 0.01 * math.log2(width / 64)


def replicated_trials() -> list[dict]:
    out = []
    for etab in ETAS:
        for width in WIDTHS:
            for seed in REP_SEEDS:
                out.append({"arch": "fcn", "etab": etab, "width": width, "seed": seed,
                            "outcome": "capped" if etab == ETAS[0] else "converged",
                            "train_acc": UNDERFIT_ACC if (etab, width, seed) == UNDERFIT else 1.0})
    out += [{"arch": "fcn", "etab": NOISE_ETA, "width": w, "seed": s, "outcome": "converged", "noise_scale": NOISE_SCALE}
            for w in WIDTHS for s in REP_SEEDS]
    out += [{"arch": "vgg11", "etab": e, "width": w, "seed": s, "outcome": "converged"}
            for e in VGG_ETAS for w in TWO_WIDTHS for s in REP_SEEDS]
    return out


def run_record(t: dict, index: int):
    """One replicated-store trial as the loader would read it (params parsed back from strings)."""
    from analysis.load import parse_param
    from analysis.tables import RunRecord

    spec = spec_for(t["arch"], t["etab"], t["width"], t["seed"], t.get("noise_scale"), REP_EPS)
    layers = fcn_layers(t["width"]) if t["arch"] == "fcn" else vgg_layers(t["width"])
    gain = noise_gain(t["seed"], t["width"]) if t.get("noise_scale") else 0.0
    metrics = final_metrics(t["etab"], layers, t["width"], methods=REP_METHODS, eps=REP_EPS,
                            slope_scale=slope_scale(t["seed"]), prunable_gain=gain, train_acc=t.get("train_acc", 1.0))
    history = {}
    for key, value, step in step_metrics(t["etab"], layers):
        history[key] = history.get(key, ()) + ((step, value),)
    tags = {keys.TAG_SPEC_HASH: spec.spec_hash(), keys.TAG_SWEEP: "replicated", keys.TAG_OUTCOME: t["outcome"],
            keys.TAG_VERSION: "0.2.0", keys.TAG_LAYERS: json.dumps(layers),
            keys.TAG_FIT: "underfit" if t.get("train_acc", 1.0) < 0.99 else "good"}
    if t["width"] != OLD_VERSION_WIDTH:
        tags[keys.TAG_MEASURE_VERSION] = "2"
    return RunRecord(run_id=f"r{index:03d}", run_name=run_name(t), tags=tags,
                     params={k: parse_param(str(v)) for k, v in spec.flat().items()}, metrics=metrics, history=history)


def replicated_data(sweep_file: str | None = None):
    """The replicated store as SweepData, built by the same table split the MLflow loader uses."""
    from analysis.tables import build_tables

    records = [run_record(t, i) for i, t in enumerate(replicated_trials())]
    return build_tables("replicated", records, {"source": "constructed", "sweep_file": sweep_file})


# ---------------------------------------------------------------- the same trials, as trial directories
def trial_result(t: dict, *, replicated: bool = False):
    """One trial of the known (or, ``replicated``, the replicated) store as the TrialResult its trial
    directory would hold: the same spec, layers, final metrics and step history the stores above log."""
    from core.result import TrialResult

    spec = spec_for(t["arch"], t["etab"], t["width"], t["seed"], t.get("noise_scale"))
    layers = fcn_layers(t["width"]) if t["arch"] == "fcn" else vgg_layers(t["width"])
    if t["outcome"] == "diverged":
        return TrialResult(spec=spec, status="diverged", iterations=27, layers=tuple(layers),
                           metrics={"iterations": 27.0, keys.eval_key("final", "train", "loss"): math.nan},
                           history=((0, "train/loss", 2.3), (27, "train/loss", math.inf)))
    if replicated:
        gain = noise_gain(t["seed"], t["width"]) if t.get("noise_scale") else 0.0
        metrics = final_metrics(t["etab"], layers, t["width"], methods=REP_METHODS, slope_scale=slope_scale(t["seed"]),
                                prunable_gain=gain, train_acc=t.get("train_acc", 1.0))
    else:
        metrics = final_metrics(t["etab"], layers, t["width"])
    history = tuple(sorted((s, k, v) for k, v, s in step_metrics(t["etab"], layers)))
    version = 1 if replicated and t["width"] == OLD_VERSION_WIDTH else 2
    return TrialResult(spec=spec, status=t["outcome"], iterations=ITERATIONS, metrics=metrics, history=history,
                       layers=tuple(layers), measure_version=version)


def open_store(root, sweep: str):
    """(client, experiment id, TrialStore, tracking URI) of ``root``'s SQLite store, the sweep's experiment
    created if missing."""
    from sweep import mlflow_runs, tracking
    from sweep.paths import Layout
    from sweep.trial_store import TrialStore

    layout = Layout(root)
    config = tracking.TrackingConfig.for_layout(layout)
    client = tracking.make_client(config)
    exp_id = mlflow_runs.ensure_experiment(client, sweep, config.artifact_location(sweep))
    return client, exp_id, TrialStore(layout, sweep), config.uri


def upload_store(root, sweep: str, runs: list[dict], *, replicated: bool = False) -> str:
    """Write each trial's directory under ``root`` and upload it as tailsweep does today (run metrics plus
    the table artifact) into ``root``'s SQLite store; returns the tracking URI."""
    from sweep import mlflow_runs

    client, exp_id, store, uri = open_store(root, sweep)
    for t in runs:
        result = trial_result(t, replicated=replicated)
        store.write_result(result, plots=False)
        mlflow_runs.upload_trial(client, exp_id, store, result.spec.spec_hash(), uri, run_name=run_name(t))
    return uri
