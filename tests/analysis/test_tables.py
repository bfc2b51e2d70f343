import json
import math
import sys

import pytest

from analysis import schema
from analysis.load import clean_value, parse_param
from analysis.tables import RunRecord, build_tables
from core import keys, vocab
from core.keys import is_step_key


@pytest.mark.parametrize("text, value", [
    ("0.001", 0.001), ("50", 50), ("None", None), ("True", True), ("False", False), ("2.0", 2.0),
    ("mnist5k", "mnist5k"), ("['magnitude', 'node']", "['magnitude', 'node']"), ("cuda:0", "cuda:0"),
])
def test_parse_param(text, value):
    assert parse_param(text) == value and type(parse_param(text)) is type(value)


def test_clean_value_restores_infinity():
    assert clean_value(sys.float_info.max) == math.inf and clean_value(-sys.float_info.max) == -math.inf
    assert clean_value(1.5) == 1.5 and math.isnan(clean_value(math.nan))


def test_step_keys_follow_the_scheme():
    assert is_step_key("train/loss") and is_step_key("batch/loss") and is_step_key(keys.CURRENT_ALPHA_PREFIX + "layer2")
    assert not is_step_key(keys.alpha_key("avg", "multi", "layer2")) and not is_step_key("iterations")
    assert not is_step_key("something/else")


def _record(run_id, outcome=None, metrics=None, history=None, layers=True):
    tags = {keys.TAG_SPEC_HASH: "ab" * 8}
    if outcome:
        tags[keys.TAG_OUTCOME] = outcome
    if layers:
        tags[keys.TAG_LAYERS] = json.dumps([{"index": 0, "name": "w0", "role": "first", "shape": [4, 3]},
                                            {"index": 1, "name": "w1", "role": "last", "shape": [2, 4]}])
    params = {"eta_over_b": 0.01, "model.width": 4}
    return RunRecord(run_id, f"name-{run_id}", tags, params, metrics or {}, history or {})


def test_every_metric_lands_in_exactly_one_table():
    metrics = {
        keys.alpha_key("avg", "multi", "layer0"): 1.7, keys.alpha_key("avg", "multi", "layer0", raw=True): 1.69,
        keys.alpha_key("avg", "multi", "median"): 1.8, keys.prunable_key("avg", "node", "median", 0.1, 1): 0.3,
        keys.error_key("avg", "magnitude", "none", 0.9, 0): 0.6, keys.pruned_key("acc", "avg", "singular", 0.5): 0.8,
        keys.pruned_key("loss", "avg", "singular", 0.5): 0.4, keys.remaining_key("singular", 0.5): 1.0,
        keys.sv_removed_key(0.5): 0.5, keys.eval_key("avg", "test", "acc"): 0.9, "iterations": 100.0,
        "custom/metric": 3.0, "train/loss": 0.01,
    }
    data = build_tables("s", [_record("r1", "converged", metrics, {"train/loss": ((0, 2.0), (100, 0.01))}),
                              _record("r2", None, {}, {}, layers=False)])
    t = data.trials.set_index(schema.RUN)
    assert t.loc["r1", schema.OUTCOME] == "converged" and t.loc["r2", schema.OUTCOME] == vocab.INCOMPLETE
    assert t.loc["r1", keys.alpha_key("avg", "multi", "median")] == 1.8 and t.loc["r1", "custom/metric"] == 3.0
    assert "train/loss" not in t.columns and t.loc["r1", "eta_over_b"] == 0.01
    a = data.alphas.iloc[0]
    assert (a[schema.LAYER], a[schema.ROLE], a[schema.N_ENTRIES], a[schema.ALPHA], a[schema.ALPHA_RAW]) == (0, "first", 12, 1.7, 1.69)
    p = data.prunable.iloc[0]
    assert (p[schema.METHOD], p[schema.LAYER], p[schema.ROLE], p[schema.EPS], p[schema.PRUNABLE]) == ("node", 1, "last", 0.1, 0.3)
    e = data.errors.iloc[0]
    assert (e[schema.CENTER], e[schema.RATIO], e[schema.ERROR]) == ("none", 0.9, 0.6)
    r = data.ratios.iloc[0]
    assert (r[schema.METHOD], r[schema.RATIO], r[schema.PRUNED_ACC], r[schema.PRUNED_LOSS], r[schema.REMAINING], r[schema.SV_REMOVED]) == \
        ("singular", 0.5, 0.8, 0.4, 1.0, 0.5)
    assert data.steps[[schema.STEP, schema.VALUE]].values.tolist() == [[0, 2.0], [100, 0.01]]
    assert data.layers[schema.N_ENTRIES].tolist() == [12, 8]
