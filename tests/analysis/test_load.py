import math

import numpy as np
import pytest

from analysis import schema
from analysis.errors import AnalysisInputError
from analysis.load import load_runs, load_sweep
from core import keys
from tests.analysis import store
from tests.analysis.conftest import EMPTY


def test_one_row_per_trial_with_typed_params(known_store):
    runs = load_runs(known_store[0], store.SWEEP)
    assert len(runs) == len(store.trials()) == 26
    assert runs[schema.RUN].is_unique
    assert runs[schema.OUTCOME].value_counts().to_dict() == {"converged": 19, "capped": 6, "diverged": 1}
    fcn = runs[runs[schema.ARCH] == "fcn"]
    assert sorted(fcn[schema.ETA_B].unique()) == list(store.ETAS)
    assert fcn[schema.WIDTH].dtype.kind == "i" and runs[schema.BATCH].dtype.kind == "i"
    assert set(fcn[schema.DEPTH]) == {3} and runs[runs[schema.ARCH] == "vgg11"][schema.DEPTH].isna().all()
    row = fcn[(fcn[schema.ETA_B] == 4e-3) & (fcn[schema.WIDTH] == 256) & (fcn[schema.SEED] == 1)].iloc[0]
    spec = store.spec_for("fcn", 4e-3, 256, 1)
    assert row[schema.SPEC_HASH] == spec.spec_hash() and row["eta"] == pytest.approx(spec.eta)
    assert row[keys.eval_key("avg", "test", "acc")] == pytest.approx(store.dense_acc(4e-3))
    assert row["iterations"] == store.ITERATIONS


def test_long_tables_hold_the_logged_values(known_data):
    d = known_data
    fcn_usable = 22
    assert len(d.layers) == 26 * 3
    assert len(d.alphas) == 25 * 3 * 2 * 2            # usable runs x layers x variants x weight sets
    a = d.alphas.merge(d.trials[[schema.RUN, schema.ETA_B]], on=schema.RUN)
    a = a[(a[schema.WSET] == "avg") & (a[schema.VARIANT] == "multi")]
    expected = [store.alpha_of(r, e) for r, e in zip(a[schema.ROLE], a[schema.ETA_B])]
    np.testing.assert_allclose(a[schema.ALPHA], expected)
    np.testing.assert_allclose(a[schema.ALPHA_RAW], np.array(expected) + store.RAW_OFFSET)
    assert len(d.errors[d.errors[schema.RUN].isin(d.trials[d.trials[schema.ARCH] == "fcn"][schema.RUN])]) == fcn_usable * 3 * 3 * 2 * 2
    assert set(d.errors[schema.RATIO]) == set(store.CURVE_RATIOS)
    r = d.ratios[(d.ratios[schema.METHOD] == "singular") & (d.ratios[schema.WSET] == "avg")]
    np.testing.assert_allclose(r[schema.SV_REMOVED], r[schema.RATIO])
    np.testing.assert_allclose(r[schema.REMAINING], 2 * (1 - r[schema.RATIO]))
    assert d.ratios[d.ratios[schema.METHOD] == "node"][schema.SV_REMOVED].isna().all()


def test_step_histories_and_diverged_trial(known_data):
    d = known_data
    diverged = d.trials[d.trials[schema.OUTCOME] == "diverged"].iloc[0]
    assert math.isnan(diverged[keys.eval_key("final", "train", "loss")])
    assert diverged["iterations"] == 27
    loss = d.steps[(d.steps[schema.RUN] == diverged[schema.RUN]) & (d.steps[schema.KEY] == "train/loss")]
    assert loss[schema.STEP].tolist() == [0, 27] and loss[schema.VALUE].iloc[0] == 2.3 and loss[schema.VALUE].iloc[1] == math.inf
    ok = d.trials[d.trials[schema.OUTCOME] == "converged"].iloc[0]
    traj = d.steps[(d.steps[schema.RUN] == ok[schema.RUN]) & (d.steps[schema.KEY] == keys.CURRENT_ALPHA_PREFIX + "layer2")]
    assert traj[schema.STEP].tolist() == [1000, 2000] and traj[schema.LAYER].tolist() == [2, 2]


def test_bad_sources_are_one_line_input_errors(known_store, tmp_path):
    uri = known_store[0]
    with pytest.raises(AnalysisInputError, match="no such experiment.*known: .*known"):
        load_sweep(uri, "nope")
    with pytest.raises(AnalysisInputError, match="has no runs"):
        load_sweep(uri, EMPTY)
    with pytest.raises(AnalysisInputError, match="no MLflow database"):
        load_sweep(f"sqlite:///{tmp_path / 'absent.db'}", store.SWEEP)
    assert not (tmp_path / "absent.db").exists()      # a wrong path never creates an empty store
