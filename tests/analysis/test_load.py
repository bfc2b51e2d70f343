import math

import numpy as np
import pytest

from analysis import schema as S
from analysis.errors import AnalysisInputError
from analysis.load import load_runs, load_sweep
from core import keys
from tests.analysis import store
from tests.analysis.conftest import EMPTY


def test_one_row_per_trial_with_typed_params(known_store):
    runs = load_runs(known_store[0], store.SWEEP)
    assert len(runs) == len(store.trials()) == 26
    assert runs[S.RUN].is_unique
    assert runs[S.OUTCOME].value_counts().to_dict() == {"converged": 19, "capped": 6, "diverged": 1}
    fcn = runs[runs[S.ARCH] == "fcn"]
    assert sorted(fcn[S.ETA_B].unique()) == list(store.ETAS)
    assert fcn[S.WIDTH].dtype.kind == "i" and runs[S.BATCH].dtype.kind == "i"
    assert set(fcn[S.DEPTH]) == {3} and runs[runs[S.ARCH] == "vgg11"][S.DEPTH].isna().all()
    row = fcn[(fcn[S.ETA_B] == 4e-3) & (fcn[S.WIDTH] == 256) & (fcn[S.SEED] == 1)].iloc[0]
    spec = store.spec_for("fcn", 4e-3, 256, 1)
    assert row[S.SPEC_HASH] == spec.spec_hash() and row["eta"] == pytest.approx(spec.eta)
    assert row[keys.eval_key("avg", "test", "acc")] == pytest.approx(store.dense_acc(4e-3))
    assert row["iterations"] == store.ITERATIONS


def test_long_tables_hold_the_logged_values(known_data):
    d = known_data
    fcn_usable = 22
    assert len(d.layers) == 26 * 3
    assert len(d.alphas) == 25 * 3 * 2 * 2            # usable runs x layers x variants x weight sets
    a = d.alphas.merge(d.trials[[S.RUN, S.ETA_B]], on=S.RUN)
    a = a[(a[S.WSET] == "avg") & (a[S.VARIANT] == "multi")]
    expected = [store.alpha_of(r, e) for r, e in zip(a[S.ROLE], a[S.ETA_B])]
    np.testing.assert_allclose(a[S.ALPHA], expected)
    np.testing.assert_allclose(a[S.ALPHA_RAW], np.array(expected) + store.RAW_OFFSET)
    assert len(d.errors[d.errors[S.RUN].isin(d.trials[d.trials[S.ARCH] == "fcn"][S.RUN])]) == fcn_usable * 3 * 3 * 2 * 2
    assert set(d.errors[S.RATIO]) == set(store.CURVE_RATIOS)
    r = d.ratios[(d.ratios[S.METHOD] == "singular") & (d.ratios[S.WSET] == "avg")]
    np.testing.assert_allclose(r[S.SV_REMOVED], r[S.RATIO])
    np.testing.assert_allclose(r[S.REMAINING], 2 * (1 - r[S.RATIO]))
    assert d.ratios[d.ratios[S.METHOD] == "node"][S.SV_REMOVED].isna().all()


def test_step_histories_and_diverged_trial(known_data):
    d = known_data
    diverged = d.trials[d.trials[S.OUTCOME] == "diverged"].iloc[0]
    assert math.isnan(diverged[keys.eval_key("final", "train", "loss")])
    assert diverged["iterations"] == 27
    loss = d.steps[(d.steps[S.RUN] == diverged[S.RUN]) & (d.steps[S.KEY] == "train/loss")]
    assert loss[S.STEP].tolist() == [0, 27] and loss[S.VALUE].iloc[0] == 2.3 and loss[S.VALUE].iloc[1] == math.inf
    ok = d.trials[d.trials[S.OUTCOME] == "converged"].iloc[0]
    traj = d.steps[(d.steps[S.RUN] == ok[S.RUN]) & (d.steps[S.KEY] == keys.CURRENT_ALPHA_PREFIX + "layer2")]
    assert traj[S.STEP].tolist() == [1000, 2000] and traj[S.LAYER].tolist() == [2, 2]


def test_bad_sources_are_one_line_input_errors(known_store, tmp_path):
    uri = known_store[0]
    with pytest.raises(AnalysisInputError, match="no such experiment.*known: .*known"):
        load_sweep(uri, "nope")
    with pytest.raises(AnalysisInputError, match="has no runs"):
        load_sweep(uri, EMPTY)
    with pytest.raises(AnalysisInputError, match="no MLflow database"):
        load_sweep(f"sqlite:///{tmp_path / 'absent.db'}", store.SWEEP)
    assert not (tmp_path / "absent.db").exists()      # a wrong path never creates an empty store
