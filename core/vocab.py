"""Every word list tailsweep uses, defined once.

A leaf module: it imports nothing from tailsweep, so ``spec``, ``keys``, the registries, ``sweep`` and
``analysis`` can all import it without a cycle. Each registry asserts at import that it covers exactly
its list here (``check_registry``), so a new word cannot land in one place only.
"""
from __future__ import annotations

from typing import Any, Iterable

# ---------------------------------------------------------------- science axes
DATASETS = ("mnist5k", "mnist", "cifar10", "synthetic")
ARCHS = ("fcn", "vgg11")

PARAMETRIZATIONS = ("standard", "mean_field")

# ---------------------------------------------------------------- iterate noise (train.noise*)
NOISE_NONE, NOISE_ROW, NOISE_ENTRY, NOISE_ELLIPTIC = "none", "row", "entry", "elliptic"
NOISES = (NOISE_NONE, NOISE_ROW, NOISE_ENTRY, NOISE_ELLIPTIC)
NOISE_EXCLUDE_FIRST_CONV, NOISE_EXCLUDE_LAST = "first_conv", "last"
NOISE_EXCLUDES = (NOISE_EXCLUDE_FIRST_CONV, NOISE_EXCLUDE_LAST)
NOISE_CONV_KERNEL, NOISE_CONV_FILTER = "kernel", "filter"
NOISE_CONVS = (NOISE_CONV_KERNEL, NOISE_CONV_FILTER)

# ---------------------------------------------------------------- measurement words
ROLES = ("first", "hidden", "last")
WEIGHT_SETS = ("final", "avg")
ALPHA_VARIANTS = ("multi", "uni", "norms", "hill")   # multi: block-sum on rows; uni: on all entries;
                                                     # norms: on row norms; hill: Hill on all entries
AGGREGATES = ("median", "mean", "min")
BROWSED_VARIANT = "multi"            # the alpha variant kept as run metrics, per layer (core.keys.is_table_key)
BROWSED_AGGREGATES = ("median", "min")   # its aggregates kept as run metrics; the rest go to the table
TAIL_METHODS = ("block_sum", "hill", "moment")
PRUNE_METHODS = ("magnitude", "singular", "node", "neuron")   # node: columns (the previous layer's
                                                               # units); neuron: rows (the layer's own)
PAPER_PRUNE_METHODS = PRUNE_METHODS[:3]   # the 2021 paper's; the default of compress.methods
CENTERS = ("median", "none")         # 'median': centre and fill with the median; 'none': zero fill
SCOPES = ("layer", "global")
LAYER_MEASURES = ("stable_rank", "effective_rank", "pq_index")   # per layer, beside the tail index
SPLITS = ("train", "test")
BATCH = "batch"                      # step metrics of the running minibatch loss
STEP_SOURCES = (*SPLITS, BATCH)      # heads of the step-metric keys: train/..., test/..., batch/...
EVAL_WHATS = ("loss", "acc")

# ---------------------------------------------------------------- trial outcomes and statuses
RUNNING = "running"                  # the loop's status before a rule ends it
CONVERGED = "converged"
CAPPED = "capped"                    # hit max_iters
DIVERGED = "diverged"
FAILED = "failed"                    # a bug or infrastructure fault: the only error
OUTCOMES = (CONVERGED, CAPPED, DIVERGED, FAILED)
FINISHED_OUTCOMES = (CONVERGED, CAPPED, DIVERGED)   # a trial directory with DONE holds one of these
TRAINED_OUTCOMES = (CONVERGED, CAPPED)              # final metrics exist (tails, curves, pruning)
INCOMPLETE = "incomplete"            # analysis: a run without a finished outcome
MISSING = "missing"                  # analysis: a grid cell with no run at all
UNFINISHED = "unfinished"            # status: a trial without DONE or FAILED
# Fit quality of a trained (converged or capped) trial; diverged and failed trials have none.
FIT_GOOD = "good"
FIT_UNDERFIT = "underfit"
FITS = (FIT_GOOD, FIT_UNDERFIT)

# ---------------------------------------------------------------- analysis words
HOLDS = "holds"                      # a claim's CI excludes 0 on the predicted side
CONTRADICTED = "contradicted"        # ... on the other side
INCONCLUSIVE = "inconclusive"        # neither, an undefined CI, or too few trials
VERDICTS = (HOLDS, CONTRADICTED, INCONCLUSIVE)
CORRELATIONS = ("spearman", "kendall")

PENDING = "pending"                  # status: a planned trial with no trial directory yet

# ---------------------------------------------------------------- MLflow run kinds (tag tailsweep.kind)
RUN_KIND_SWEEP = "sweep"             # the sweep's one parent run
RUN_KIND_TRIAL = "trial"             # one run per trial, nested under the parent (untagged runs: trials)
RUN_KINDS = (RUN_KIND_SWEEP, RUN_KIND_TRIAL)

# ---------------------------------------------------------------- placement (not identity)
DEVICES = ("auto", "cpu", "cuda")    # plus 'cuda:N'


class ChoiceError(ValueError):
    """An unknown value; ``field`` names where it came from."""

    def __init__(self, field: str, value: Any, allowed: Iterable[str]):
        self.field, self.value, self.allowed = field, value, tuple(allowed)
        super().__init__(choice_message(field, value, self.allowed))


def unknown_value(value: Any, allowed: Iterable[str]) -> str:
    """The one wording of an unknown-value problem, without the field (callers that collect problems
    by field path add it themselves)."""
    return f"unknown value {value!r} (allowed: {', '.join(str(a) for a in allowed)})"


def choice_message(field: str, value: Any, allowed: Iterable[str]) -> str:
    return f"{field}: {unknown_value(value, allowed)}"


def check_choice(field: str, value: Any, allowed: Iterable[str]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ``ChoiceError`` naming the field."""
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:   # unhashable/uncomparable values are simply not allowed
        ok = False
    if not ok:
        raise ChoiceError(field, value, allowed)
    return value


def check_center(center: str | None, field: str = "center") -> str:
    """'median' | 'none'; the kernels also take ``None`` for 'none' (their historical spelling)."""
    return "none" if center is None else check_choice(field, center, CENTERS)


def check_registry(name: str, registered: Iterable[str], words: Iterable[str]) -> None:
    """A registry must cover exactly its word list: fail at import, loudly, when they drift."""
    registered, words = tuple(registered), tuple(words)
    if set(registered) != set(words):
        raise AssertionError(f"{name} registry {sorted(registered)} does not match its word list {sorted(words)}")
