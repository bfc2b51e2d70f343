import pytest

from core import keys


@pytest.mark.parametrize("ratio,text", [(0.5, "0.50"), (0.525, "0.525"), (1, "1.00"), (0.1, "0.10"),
                                        (0.0, "0.00"), (0.975, "0.975"), (0.30000000000000004, "0.30")])
def test_ratio_format_is_stable(ratio, text):
    assert keys.fmt_ratio(ratio) == text


def test_issue_examples_are_spelled_by_the_builders():
    assert keys.alpha_key("avg", "multi", keys.layer(1)) == "alpha/avg/multi/layer1"
    assert keys.pruned_key("acc", "final", "node", 0.5) == "pruned_acc/final/node/r0.50"


@pytest.mark.parametrize("key,expected", [
    (keys.eval_key("avg", "test", "acc"), dict(family="eval", wset="avg", split="test", what="acc")),
    (keys.alpha_key("final", "uni", "layer3", raw=True), dict(family="alpha", variant="uni", layer=3, raw=True)),
    (keys.alpha_key("avg", "multi", "median"), dict(family="alpha", aggregate="median", raw=False)),
    (keys.alpha_key("avg", "hill", "role_last"), dict(family="alpha", role="last")),
    (keys.prunable_key("avg", "node", "none", 0.05, 2), dict(family="prunable", method="node", center="none",
                                                             eps=0.05, layer=2)),
    (keys.error_key("final", "singular", "median", 0.525, 0), dict(family="error", ratio=0.525, layer=0)),
    (keys.pruned_key("loss", "avg", "magnitude", 0.9), dict(family="pruned", what="loss", ratio=0.9)),
    (keys.remaining_key("singular", 0.2), dict(family="remaining", method="singular", ratio=0.2)),
    (keys.sv_removed_key(0.2), dict(family="sv_removed", ratio=0.2)),
    ("train/loss", dict(family="step", split="train", what="loss")),
    ("iterations", dict(family="iterations")),
])
def test_parse_inverts_the_builders(key, expected):
    parsed = keys.parse_key(key)
    assert parsed is not None
    for name, value in expected.items():
        assert getattr(parsed, name) == value


@pytest.mark.parametrize("key", ["", "alpha/avg", "error/avg/node/median/rX/layer0", "weird/key/shape"])
def test_keys_outside_the_scheme_parse_to_none(key):
    assert keys.parse_key(key) is None


def test_step_metric_builders_spell_the_documented_keys():
    assert keys.step_key("train", "loss") == "train/loss"
    assert keys.step_key("batch", "loss") == "batch/loss"
    assert keys.step_key("test", "acc") == "test/acc"
    assert keys.current_alpha_key(3) == "alpha/current/multi/layer3"
    assert keys.ITERATIONS == "iterations" and keys.parse_key(keys.ITERATIONS).family == "iterations"
    assert keys.alpha_key("avg", "hill", keys.role("last")) == "alpha/avg/hill/role_last"


@pytest.mark.parametrize("key,is_step", [
    (keys.step_key("train", "loss"), True),
    (keys.step_key("test", "acc"), True),
    (keys.step_key("batch", "loss"), True),
    (keys.current_alpha_key(0), True),
    ("alpha/current/uni/layer1", True),        # any alpha of the current weights
    (keys.alpha_key("avg", "multi", keys.layer(2)), False),
    (keys.eval_key("final", "train", "loss"), False),
    (keys.time_key("train"), False),
    (keys.ITERATIONS, False),
    ("something/else", False),                # outside the scheme: not a step key
    ("", False),
])
def test_is_step_key_is_the_one_definition(key, is_step):
    assert keys.is_step_key(key) is is_step


def test_keys_reexports_are_the_vocab_lists_themselves():
    from core import vocab

    for name in ("WEIGHT_SETS", "ALPHA_VARIANTS", "AGGREGATES", "ROLES", "OUTCOMES"):
        assert getattr(keys, name) is getattr(vocab, name)


@pytest.mark.parametrize("key,in_table", [
    # browsed: what a reviewer charts or sorts by
    (keys.step_key("train", "loss"), False),
    (keys.current_alpha_key(1), False),
    (keys.alpha_key("avg", "multi", keys.layer(2)), False),
    (keys.alpha_key("final", "multi", keys.layer(0), raw=True), False),
    (keys.alpha_key("avg", "multi", "median"), False),
    (keys.alpha_key("avg", "multi", "min", raw=True), False),
    (keys.prunable_key("avg", "singular", "none", 0.05, 3), False),
    (keys.eval_key("final", "test", "acc"), False),
    (keys.gap_key("avg", "loss"), False),
    (keys.time_key("pruned_eval"), False),
    (keys.ITERATIONS, False),
    (keys.pruned_key("acc", "avg", "magnitude", 0.5), False),
    (keys.pruned_key("acc", "final", "neuron", 0.9), False),
    ("something/else", False),                                # outside the scheme: a metric, never lost
    # the table: dense grids and the other variants
    (keys.alpha_key("avg", "multi", "mean"), True),
    (keys.alpha_key("avg", "multi", keys.role("last")), True),
    (keys.alpha_key("avg", "uni", keys.layer(0)), True),
    (keys.alpha_key("final", "hill", "median", raw=True), True),
    (keys.alpha_key("avg", "norms", keys.role("first")), True),
    (keys.error_key("avg", "node", "median", 0.5, 1), True),
    (keys.pruned_key("acc", "avg", "magnitude", 0.525), True),
    (keys.pruned_key("loss", "avg", "magnitude", 0.5), True),
    (keys.remaining_key("singular", 0.9), True),
    (keys.sv_removed_key(0.5), True),
    (keys.layer_measure_key("stable_rank", "avg", 0), True),
    (keys.layer_measure_key("pq_index", "final", 4), True),
])
def test_is_table_key_is_the_one_definition(key, in_table):
    assert keys.is_table_key(key) is in_table


def test_headline_ratios_lie_on_the_default_pruned_accuracy_grid():
    from core.spec import CompressSpec

    grid = {keys.fmt_ratio(r) for r in CompressSpec().ratios}
    assert len(keys.HEADLINE_RATIOS) == 2 and {keys.fmt_ratio(r) for r in keys.HEADLINE_RATIOS} <= grid
