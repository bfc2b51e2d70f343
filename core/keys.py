"""The metric-key scheme: the one contract between trials (writers) and analysis (readers).

Keys are slash-separated, general to specific. Every writer builds keys with these functions and
every reader parses them with ``parse_key``; no other module spells a key by hand.

Final metrics (logged once, at the trial's last iteration):
    eval/{wset}/{split}/{loss|acc}                    wset: final | avg;  split: train | test
    gap/{wset}/{loss|acc}                             test minus train
    alpha/{wset}/{variant}/layer{i}                   capped at 2 (the reference)
    alpha_raw/{wset}/{variant}/layer{i}               uncapped
    alpha/{wset}/{variant}/{median|mean|min}          aggregates over layers (alpha_raw/... too)
    alpha/{wset}/{variant}/role_{first|hidden|last}   median over the layers of one role
        variant: multi (block-sum on rows) | uni (block-sum on all entries) | norms (block-sum on
                 row norms) | hill (Hill on all entries)
    prunable/{wset}/{method}/{center}/eps{eps}/layer{i}   largest removable fraction at rel. error <= eps
    error/{wset}/{method}/{center}/r{ratio}/layer{i}      relative l_p error after removing a fraction
        method: magnitude | singular | node | neuron;   center: median | none (neuron: none only)
    {stable_rank|effective_rank|pq_index}/{wset}/layer{i}  from one SVD of the uncentred weight
    pruned_acc/{wset}/{method}/r{ratio}   pruned_loss/{wset}/{method}/r{ratio}   test set
    remaining/{method}/r{ratio}           remaining-parameter ratio of the pruned model
    sv_removed/r{ratio}                   singular value: fraction of singular values removed
    time/{stage}                          wall seconds per pipeline stage
    iterations                            iterations trained

Step metrics (step = iteration), built by ``step_key`` and ``current_alpha_key``:
    train/{loss|acc}     full train set, at convergence checks
    test/{loss|acc}      full test set, every test_every iterations
    batch/loss           running mean minibatch loss since the previous report
    alpha/current/multi/layer{i}   the multivariate block-sum alpha of the current weights
``is_step_key`` tells the two kinds apart.

Where a key lives (``is_table_key``): a trial's MLflow run holds as metrics what a reviewer charts or sorts
by, and the trial's one table artifact (``TABLE_ARTIFACT``: long format, columns ``TABLE_COLUMNS``, rows
sorted by key) holds the rest, so a run's metrics stay few enough to browse.
    metrics: every step metric; eval/, gap/, time/, iterations; alpha/ and alpha_raw/ of the multi variant
             per layer and its median and min; every prunable/ key; pruned_acc at ``HEADLINE_RATIOS``
    table:   alpha/ and alpha_raw/ of the other variants, multi's mean and per-role medians; error/;
             pruned_acc at other ratios; pruned_loss/; remaining/; sv_removed/; stable_rank/,
             effective_rank/, pq_index/
Keys outside the scheme are metrics. Analysis merges the table into the run's metrics (the table wins), so
readers see one dict either way; runs uploaded before the table hold every key as a metric.

The word lists (weight sets, variants, aggregates, roles, outcomes) live in core.vocab; the names below
re-export them for readers that still spell them ``keys.X``.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.vocab import (AGGREGATES, ALPHA_VARIANTS, BROWSED_AGGREGATES, BROWSED_VARIANT, LAYER_MEASURES, OUTCOMES,
                        ROLES, STEP_SOURCES, WEIGHT_SETS, check_choice)

__all__ = [
    "AGGREGATES", "ALPHA_VARIANTS", "OUTCOMES", "ROLES", "WEIGHT_SETS",
    "ITERATIONS", "CURRENT_ALPHA_ROOT", "CURRENT_ALPHA_PREFIX", "ParsedKey",
    "fmt_ratio", "fmt_eps", "layer", "role", "eval_key", "gap_key", "alpha_key", "prunable_key", "error_key",
    "pruned_key", "remaining_key", "sv_removed_key", "layer_measure_key", "time_key", "step_key", "current_alpha_key",
    "parse_key", "is_step_key", "HEADLINE_RATIOS", "TABLE_ARTIFACT", "TABLE_COLUMNS", "is_table_key",
    "TAG_SPEC_HASH", "TAG_SWEEP", "TAG_OUTCOME", "TAG_VERSION", "TAG_LAYERS", "TAG_MEASURE_VERSION", "TAG_FIT",
    "TAG_KIND", "TAG_TABLE", "OUTCOMES_ROOT", "outcome_count_key",
]

ITERATIONS = "iterations"
CURRENT_ALPHA_ROOT = "alpha/current/"                # every alpha-of-the-current-weights key starts so
CURRENT_ALPHA_PREFIX = CURRENT_ALPHA_ROOT + "multi/"


def fmt_ratio(ratio: float) -> str:
    """0.5 -> '0.50', 0.525 -> '0.525': at least two decimals, no float noise."""
    text = f"{ratio:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def fmt_eps(eps: float) -> str:
    return f"{eps:g}"


def layer(i: int) -> str:
    return f"layer{i}"


def role(name: str) -> str:
    """The ``which`` token of a per-role alpha aggregate: 'role_first', ..."""
    return f"role_{name}"


def eval_key(wset: str, split: str, what: str) -> str:
    return f"eval/{wset}/{split}/{what}"


def gap_key(wset: str, what: str) -> str:
    return f"gap/{wset}/{what}"


def alpha_key(wset: str, variant: str, which: str, *, raw: bool = False) -> str:
    """``which``: 'layer{i}', an aggregate name, or 'role_{role}'."""
    return f"{'alpha_raw' if raw else 'alpha'}/{wset}/{variant}/{which}"


def prunable_key(wset: str, method: str, center: str, eps: float, i: int) -> str:
    return f"prunable/{wset}/{method}/{center}/eps{fmt_eps(eps)}/{layer(i)}"


def error_key(wset: str, method: str, center: str, ratio: float, i: int) -> str:
    return f"error/{wset}/{method}/{center}/r{fmt_ratio(ratio)}/{layer(i)}"


def pruned_key(what: str, wset: str, method: str, ratio: float) -> str:
    """what: 'acc' or 'loss'."""
    return f"pruned_{what}/{wset}/{method}/r{fmt_ratio(ratio)}"


def remaining_key(method: str, ratio: float) -> str:
    return f"remaining/{method}/r{fmt_ratio(ratio)}"


def sv_removed_key(ratio: float) -> str:
    return f"sv_removed/r{fmt_ratio(ratio)}"


def layer_measure_key(measure: str, wset: str, i: int) -> str:
    """measure: one of ``LAYER_MEASURES`` (stable_rank, effective_rank, pq_index)."""
    return f"{check_choice('measure', measure, LAYER_MEASURES)}/{wset}/{layer(i)}"


def time_key(stage: str) -> str:
    return f"time/{stage}"


def step_key(split: str, what: str) -> str:
    """A step metric: ``split`` is train | test | batch, ``what`` loss | acc (batch: loss only)."""
    return f"{split}/{what}"


def current_alpha_key(layer_index: int) -> str:
    return CURRENT_ALPHA_PREFIX + layer(layer_index)


@dataclass(frozen=True)
class ParsedKey:
    """A key split into named parts; fields a family does not use are None."""

    family: str
    wset: str | None = None
    split: str | None = None
    what: str | None = None
    variant: str | None = None
    method: str | None = None
    center: str | None = None
    eps: float | None = None
    ratio: float | None = None
    layer: int | None = None
    aggregate: str | None = None
    role: str | None = None
    raw: bool = False


def _layer_or_agg(token: str) -> dict:
    if token.startswith("layer") and token[5:].isdigit():
        return {"layer": int(token[5:])}
    if token.startswith("role_"):
        return {"role": token[5:]}
    return {"aggregate": token}


def parse_key(key: str) -> ParsedKey | None:
    """Inverse of the builders above; None for keys outside the scheme."""
    parts = key.split("/")
    head, n = parts[0], len(parts)
    try:
        if head == "eval" and n == 4:
            return ParsedKey("eval", wset=parts[1], split=parts[2], what=parts[3])
        if head == "gap" and n == 3:
            return ParsedKey("gap", wset=parts[1], what=parts[2])
        if head in ("alpha", "alpha_raw") and n == 4:
            return ParsedKey("alpha", wset=parts[1], variant=parts[2], raw=head == "alpha_raw",
                             **_layer_or_agg(parts[3]))
        if head == "prunable" and n == 6 and parts[4].startswith("eps"):
            return ParsedKey("prunable", wset=parts[1], method=parts[2], center=parts[3],
                             eps=float(parts[4][3:]), **_layer_or_agg(parts[5]))
        if head == "error" and n == 6 and parts[4].startswith("r"):
            return ParsedKey("error", wset=parts[1], method=parts[2], center=parts[3],
                             ratio=float(parts[4][1:]), **_layer_or_agg(parts[5]))
        if head in ("pruned_acc", "pruned_loss") and n == 4 and parts[3].startswith("r"):
            return ParsedKey("pruned", what=head[7:], wset=parts[1], method=parts[2], ratio=float(parts[3][1:]))
        if head == "remaining" and n == 3 and parts[2].startswith("r"):
            return ParsedKey("remaining", method=parts[1], ratio=float(parts[2][1:]))
        if head == "sv_removed" and n == 2 and parts[1].startswith("r"):
            return ParsedKey("sv_removed", ratio=float(parts[1][1:]))
        if head in LAYER_MEASURES and n == 3:
            return ParsedKey("measure", what=head, wset=parts[1], **_layer_or_agg(parts[2]))
        if head == "time" and n == 2:
            return ParsedKey("time", what=parts[1])
        if head in STEP_SOURCES and n == 2:
            return ParsedKey("step", split=head, what=parts[1])
        if key == ITERATIONS:
            return ParsedKey("iterations")
    except ValueError:
        return None
    return None


def is_step_key(key: str) -> bool:
    """True for a step metric (logged at many steps, step = iteration), False for a final metric
    (logged once, at the last iteration) and for any key outside the scheme.

    The one definition: a key is a step key iff ``parse_key`` gives the 'step' family (train/...,
    test/..., batch/...) or it starts with 'alpha/current/' (alpha of the current weights over time).
    """
    if key.startswith(CURRENT_ALPHA_ROOT):
        return True
    parsed = parse_key(key)
    return parsed is not None and parsed.family == "step"


# Pruned accuracy at these removed fractions is a run metric per weight set and method (the other ratios:
# table). Half and nine tenths removed: where the paper's methods part ways, inside the default ratio grid.
HEADLINE_RATIOS = (0.5, 0.9)
TABLE_ARTIFACT = "measures.parquet"      # a trial run's table of the final metrics that are not run metrics
TABLE_COLUMNS = ("key", "value")         # its long format: one row per key, sorted by key

_TABLE_FAMILIES = frozenset({"error", "remaining", "sv_removed", "measure"})
_HEADLINE_TEXT = frozenset(fmt_ratio(r) for r in HEADLINE_RATIOS)   # compared as written: no float noise


def is_table_key(key: str) -> bool:
    """True for a final metric that lives in the trial's table artifact, False for one logged as a run
    metric (step metrics and keys outside the scheme included). The one definition; the module docstring
    lists both sides."""
    if is_step_key(key):
        return False
    parsed = parse_key(key)
    if parsed is None:
        return False
    if parsed.family in _TABLE_FAMILIES:
        return True
    if parsed.family == "alpha":
        browsed = parsed.layer is not None or parsed.aggregate in BROWSED_AGGREGATES
        return not (parsed.variant == BROWSED_VARIANT and browsed)
    if parsed.family == "pruned":
        return not (parsed.what == "acc" and fmt_ratio(parsed.ratio) in _HEADLINE_TEXT)
    return False


# Run tags (MLflow tags; the trial directory's record carries the same values).
TAG_SPEC_HASH = "tailsweep.spec_hash"
TAG_SWEEP = "tailsweep.sweep"
TAG_OUTCOME = "tailsweep.outcome"      # converged | capped | diverged | failed
TAG_VERSION = "tailsweep.version"
TAG_LAYERS = "tailsweep.layers"        # JSON list: [{"index", "name", "role", "shape"}, ...]
TAG_MEASURE_VERSION = "tailsweep.measure_version"   # core.version.MEASURE_VERSION the metrics were made by
TAG_FIT = "tailsweep.fit"              # good | underfit (trained trials only; core.fit)
TAG_KIND = "tailsweep.kind"            # core.vocab.RUN_KINDS: sweep (the parent) | trial; absent: a trial
TAG_TABLE = "tailsweep.table"          # sha256 of the run's TABLE_ARTIFACT; absent: every final metric is a metric

# Metrics of the sweep's parent run: trials per outcome (converged, ..., unfinished, pending).
OUTCOMES_ROOT = "outcomes/"


def outcome_count_key(outcome: str) -> str:
    return OUTCOMES_ROOT + outcome
