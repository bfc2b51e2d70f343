"""Typed, frozen trial specs: validated on construction, hashed canonically.

A trial is fully described by one ``TrialSpec``. Its identity is ``spec_hash()``: a hash of the
canonical JSON with default-valued fields left out, so adding an option whose default changes
nothing keeps every existing hash (and so every finished run) valid.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

from core.vocab import (ARCHS, CENTERS, DATASETS, NOISE_CONVS, NOISE_EXCLUDES, NOISE_NONE, NOISES, PAPER_PRUNE_METHODS,
                        PARAMETRIZATIONS, PRUNE_METHODS, SCOPES, unknown_value)

# 0, .05, ..., 1: dense enough for kept fractions 0.1/0.2 and the curve plots; each point is one MLflow
# metric per layer, method, centring and weight set (a .025 grid doubled the tracking cost of short trials).
DEFAULT_CURVE_RATIOS = tuple(round(0.05 * i, 2) for i in range(21))
PAPER_MAGNITUDE_RATIOS = (0.0, 0.1, 0.2, 0.3, 0.4) + tuple(round(0.5 + 0.025 * i, 3) for i in range(21))


class SpecError(ValueError):
    """Invalid spec values; ``problems`` holds (field path, message) pairs, all found at once."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in self.problems))

    def prefixed(self, prefix: str) -> "SpecError":
        return SpecError([(f"{prefix}.{path}", msg) for path, msg in self.problems])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    """Collects every problem of one spec so the user sees them all in one pass."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, name: str, msg: str) -> None:
        self.problems.append((name, msg))

    def choice(self, name: str, value: Any, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            self.fail(name, unknown_value(value, allowed))

    def int_at_least(self, name: str, value: Any, low: int, optional: bool = False) -> None:
        if optional and value is None:
            return
        if not _is_int(value) or value < low:
            self.fail(name, f"must be an integer >= {low}, got {value!r}")

    def positive(self, name: str, value: Any) -> None:
        if not _is_real(value) or value <= 0:
            self.fail(name, f"must be a finite number > 0, got {value!r}")

    def fractions(self, name: str, values: Any, allow_empty: bool = False) -> None:
        if not isinstance(values, tuple) or (not values and not allow_empty):
            self.fail(name, f"must be a non-empty list of numbers in [0, 1], got {values!r}")
            return
        bad = [v for v in values if not _is_real(v) or not 0.0 <= v <= 1.0]
        if bad:
            self.fail(name, f"values must lie in [0, 1], got {bad!r}")
        elif len(set(values)) != len(values):
            self.fail(name, f"duplicate values in {list(values)!r}")

    def done(self) -> None:
        if self.problems:
            raise SpecError(self.problems)


class _Spec:
    """Shared dict/JSON behaviour for the frozen spec dataclasses."""

    NESTED: ClassVar[dict[str, type]] = {}
    FLOATS: ClassVar[tuple[str, ...]] = ()   # fields stored as float so 1 and 1.0 hash alike
    LEGACY_PLACEMENT: ClassVar[tuple[str, ...]] = ()   # fields old records hold that are not identity

    def _coerce_floats(self) -> None:
        for name in self.FLOATS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = tuple(float(v) if _is_real(v) else v for v in value)
            elif _is_real(value):
                value = float(value)
            object.__setattr__(self, name, value)

    def to_dict(self, *, omit_defaults: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _Spec):
                value = value.to_dict(omit_defaults=omit_defaults)
                if omit_defaults and not value:
                    continue
            elif omit_defaults and _has_default(f) and value == _default_of(f):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        if not isinstance(data, Mapping):
            raise SpecError([(cls.__name__, f"must be a mapping, got {type(data).__name__}")])
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        data = {k: v for k, v in data.items() if k not in cls.LEGACY_PLACEMENT}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError([(k, f"unknown field (allowed: {', '.join(sorted(known))})") for k in unknown])
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            nested = cls.NESTED.get(key)
            if nested is not None:
                try:
                    kwargs[key] = nested.from_dict(value)
                except SpecError as err:
                    raise err.prefixed(key) from None
            else:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
        return cls(**kwargs)


def _has_default(f: dataclasses.Field) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING  # type: ignore[misc]


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


@dataclass(frozen=True)
class DataSpec(_Spec):
    """Which dataset, and where it comes from. ``synthetic`` uses the size/teacher fields."""

    dataset: str = "mnist5k"
    root: str | None = None          # mnist / cifar10: folder holding (or receiving) the files
    download: bool = False           # mnist / cifar10: fetch when missing
    n_train: int | None = None       # None: the dataset's own size (synthetic: 2,000)
    n_test: int | None = None        # None: the dataset's own size (synthetic: 1,000)
    dim: int = 32                    # synthetic: input dimension
    classes: int = 10                # synthetic: number of classes
    teacher_width: int = 64          # synthetic: hidden width of the ReLU teacher
    data_seed: int = 0               # teacher weights / stratified split; independent of the trial seed

    def __post_init__(self) -> None:
        c = _Checker()
        c.choice("dataset", self.dataset, DATASETS)
        if self.root is not None and (not isinstance(self.root, str) or not self.root):
            c.fail("root", f"must be a path string or null, got {self.root!r}")
        if not isinstance(self.download, bool):
            c.fail("download", f"must be true or false, got {self.download!r}")
        c.int_at_least("n_train", self.n_train, 1, optional=True)
        c.int_at_least("n_test", self.n_test, 1, optional=True)
        c.int_at_least("dim", self.dim, 1)
        c.int_at_least("classes", self.classes, 2)
        c.int_at_least("teacher_width", self.teacher_width, 1)
        c.int_at_least("data_seed", self.data_seed, 0)
        c.done()


@dataclass(frozen=True)
class ModelSpec(_Spec):
    """Architecture. ``width``: FCN hidden width, or VGG's first-conv channels (paper: 64)."""

    arch: str = "fcn"
    depth: int | None = None         # fcn: number of weight layers (paper: 4 or 6); None -> 4
    width: int | None = None         # None -> the architecture's paper value (fcn 2048, vgg11 64)
    # mean_field (fcn, depth 2): output = W2 relu(W1 x) / width, W2 ~ N(0, 1), and SGD steps of
    # eta * width on both layers (docs/science.md, "The follow-up")
    parametrization: str = "standard"

    DEFAULT_WIDTH: ClassVar[dict[str, int]] = {"fcn": 2048, "vgg11": 64}
    DEFAULT_DEPTH: ClassVar[int] = 4

    def __post_init__(self) -> None:
        c = _Checker()
        c.choice("arch", self.arch, ARCHS)
        c.int_at_least("width", self.width, 1, optional=True)
        if self.arch == "fcn":
            c.int_at_least("depth", self.depth, 2, optional=True)
        elif self.depth is not None:
            c.fail("depth", f"only applies to arch 'fcn' (got {self.depth!r} for {self.arch!r})")
        c.choice("parametrization", self.parametrization, PARAMETRIZATIONS)
        if self.parametrization == "mean_field" and (self.arch != "fcn" or self.resolved_depth != 2):
            c.fail("parametrization", f"'mean_field' needs arch 'fcn' with depth 2 (got arch {self.arch!r}, "
                                      f"depth {self.resolved_depth if self.arch == 'fcn' else None!r}"
                                      f"{'' if self.depth is not None or self.arch != 'fcn' else ' by default'})")
        c.done()

    @property
    def resolved_width(self) -> int:
        return self.width if self.width is not None else self.DEFAULT_WIDTH[self.arch]

    @property
    def resolved_depth(self) -> int:
        return self.depth if self.depth is not None else self.DEFAULT_DEPTH


@dataclass(frozen=True)
class TrainSpec(_Spec):
    """The SGD loop and the paper's stopping rule; every threshold is an option."""

    max_iters: int = 1_000_000
    eval_every: int = 200              # full-train-set convergence check cadence (iterations)
    loss_threshold: float = 5e-5       # converged: train loss below this ...
    post_converge_iters: int = 10_000  # ... and 100% train accuracy, then this many more iterations
    avg_window: int = 1_000            # 'avg' weights: uniform mean of the last this many iterates
    diverge_after: int = 50_000        # diverged: train accuracy <= diverge_acc after this many iterations
    diverge_acc: float = 0.1
    eval_trigger: float = 10.0         # run the full check only when the running batch loss < this x threshold
    test_every: int = 2_000            # test-set evaluation cadence for the curves
    alpha_every: int = 1_000           # alpha per layer over time; 0 disables
    snapshot_every: int = 0            # periodic weight snapshots; 0 disables (one FCN4-2048 is 40 MB)
    eval_batch_size: int = 2_000
    # converged: full train accuracy >= stop_acc (checked every eval_every, no loss threshold, no batch-
    # loss gate), then post_converge_iters more; None: the paper's loss rule
    stop_acc: float | None = None
    # Heavy-tailed iterate noise after every SGD step: W += s * N, s = noise_scale * eta^(1/noise_alpha)
    # (noise_lr_rescale) or noise_scale. 'none' or noise_scale 0 is plain SGD, and hashes as such.
    noise: str = "none"                # none | row | entry | elliptic
    noise_alpha: float = 1.75          # tail index of the noise, 0 < alpha <= 2 (2: Gaussian)
    noise_scale: float | None = None   # sigma >= 0; required when noise is not 'none'
    noise_lr_rescale: bool = True
    noise_exclude: tuple[str, ...] = NOISE_EXCLUDES   # layers without noise: first_conv, last
    noise_conv: str = "kernel"         # conv noise drawn per kernel, or per filter

    FLOATS: ClassVar[tuple[str, ...]] = ("loss_threshold", "diverge_acc", "eval_trigger", "stop_acc",
                                         "noise_alpha", "noise_scale")
    # Records written before placement left the spec hold ``train.device``; it is placement, not
    # science, so reading such a record drops it (it never changed a default hash).
    LEGACY_PLACEMENT: ClassVar[tuple[str, ...]] = ("device",)

    def __post_init__(self) -> None:
        c = _Checker()
        c.int_at_least("max_iters", self.max_iters, 1)
        c.int_at_least("eval_every", self.eval_every, 1)
        c.positive("loss_threshold", self.loss_threshold)
        c.int_at_least("post_converge_iters", self.post_converge_iters, 0)
        c.int_at_least("avg_window", self.avg_window, 1)
        c.int_at_least("diverge_after", self.diverge_after, 0)
        if not _is_real(self.diverge_acc) or not 0.0 <= self.diverge_acc < 1.0:
            c.fail("diverge_acc", f"must be a number in [0, 1), got {self.diverge_acc!r}")
        c.positive("eval_trigger", self.eval_trigger)
        c.int_at_least("test_every", self.test_every, 1)
        c.int_at_least("alpha_every", self.alpha_every, 0)
        c.int_at_least("snapshot_every", self.snapshot_every, 0)
        c.int_at_least("eval_batch_size", self.eval_batch_size, 1)
        if self.stop_acc is not None and (not _is_real(self.stop_acc) or not 0.0 < self.stop_acc <= 1.0):
            c.fail("stop_acc", f"must be a number in (0, 1] or null, got {self.stop_acc!r}")
        self._check_noise(c)
        c.done()
        self._coerce_floats()
        if self.noise == NOISE_NONE or self.noise_scale == 0:
            # No noise is one spec, however it was spelled: the same hash as plain SGD.
            for name in self.NOISE_FIELDS:
                object.__setattr__(self, name, _default_of(next(f for f in fields(self) if f.name == name)))

    NOISE_FIELDS: ClassVar[tuple[str, ...]] = ("noise", "noise_alpha", "noise_scale", "noise_lr_rescale",
                                               "noise_exclude", "noise_conv")

    def _check_noise(self, c: "_Checker") -> None:
        if isinstance(self.noise_exclude, list):
            object.__setattr__(self, "noise_exclude", tuple(self.noise_exclude))
        c.choice("noise", self.noise, NOISES)
        if not _is_real(self.noise_alpha) or not 0.0 < self.noise_alpha <= 2.0:
            c.fail("noise_alpha", f"must be a number in (0, 2], got {self.noise_alpha!r}")
        if self.noise_scale is not None and (not _is_real(self.noise_scale) or self.noise_scale < 0):
            c.fail("noise_scale", f"must be a number >= 0, got {self.noise_scale!r}")
        elif self.noise_scale is None and self.noise in NOISES and self.noise != NOISE_NONE:
            c.fail("noise_scale", f"required with noise {self.noise!r} (a number >= 0; 0 means no noise)")
        if not isinstance(self.noise_lr_rescale, bool):
            c.fail("noise_lr_rescale", f"must be true or false, got {self.noise_lr_rescale!r}")
        if not isinstance(self.noise_exclude, tuple):
            c.fail("noise_exclude", f"must be a list of {', '.join(NOISE_EXCLUDES)}, got {self.noise_exclude!r}")
        else:
            for name in self.noise_exclude:
                c.choice("noise_exclude", name, NOISE_EXCLUDES)
            if len(set(self.noise_exclude)) != len(self.noise_exclude):
                c.fail("noise_exclude", f"duplicate values in {list(self.noise_exclude)!r}")
            elif set(self.noise_exclude) <= set(NOISE_EXCLUDES):
                # order carries no meaning: one canonical order, so one hash
                object.__setattr__(self, "noise_exclude",
                                   tuple(n for n in NOISE_EXCLUDES if n in self.noise_exclude))
        c.choice("noise_conv", self.noise_conv, NOISE_CONVS)

    @property
    def has_noise(self) -> bool:
        return self.noise != NOISE_NONE


@dataclass(frozen=True)
class CompressSpec(_Spec):
    """What to measure after training: pruning methods, ratio grids, error tolerances."""

    methods: tuple[str, ...] = PAPER_PRUNE_METHODS   # 'neuron' is opt-in: old specs keep their hash
    ratios: tuple[float, ...] = PAPER_MAGNITUDE_RATIOS   # pruned test accuracy is evaluated here
    curve_ratios: tuple[float, ...] = DEFAULT_CURVE_RATIOS  # error curves (cheap) are sampled here
    eps: tuple[float, ...] = (0.1,)
    p: float = 2.0
    scope: str = "layer"
    center: str = "median"           # 'median': pruned items take the median (reference); 'none': zeroed
    prune_last: bool = False

    FLOATS: ClassVar[tuple[str, ...]] = ("ratios", "curve_ratios", "eps", "p")

    def __post_init__(self) -> None:
        for name in ("methods", "ratios", "curve_ratios", "eps"):
            if isinstance(getattr(self, name), list):  # a frozen, hashable spec stores lists as tuples
                object.__setattr__(self, name, tuple(getattr(self, name)))
        c = _Checker()
        if not isinstance(self.methods, tuple) or not self.methods:
            c.fail("methods", f"must be a non-empty list (allowed: {', '.join(PRUNE_METHODS)})")
        else:
            for m in self.methods:
                c.choice("methods", m, PRUNE_METHODS)
            if len(set(self.methods)) != len(self.methods):
                c.fail("methods", f"duplicate values in {list(self.methods)!r}")
        c.fractions("ratios", self.ratios, allow_empty=True)
        c.fractions("curve_ratios", self.curve_ratios)
        if not isinstance(self.eps, tuple) or not self.eps or not all(
            _is_real(e) and 0 < e < 1 for e in self.eps
        ):
            c.fail("eps", f"must be a non-empty list of numbers in (0, 1), got {self.eps!r}")
        if not _is_real(self.p) or self.p < 1:
            c.fail("p", f"must be a number >= 1, got {self.p!r}")
        c.choice("scope", self.scope, SCOPES)
        if self.scope == "global" and isinstance(self.methods, tuple) and set(self.methods) - {"magnitude"}:
            c.fail("scope", "'global' applies to magnitude pruning only (set methods: [magnitude] or scope: layer)")
        c.choice("center", self.center, CENTERS)
        if not isinstance(self.prune_last, bool):
            c.fail("prune_last", f"must be true or false, got {self.prune_last!r}")
        c.done()
        self._coerce_floats()


@dataclass(frozen=True)
class TrialSpec(_Spec):
    """One trial: the grid coordinates (eta_over_b, batch_size, seed) plus the fixed sections."""

    eta_over_b: float
    batch_size: int = 50
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    compress: CompressSpec = field(default_factory=CompressSpec)

    NESTED: ClassVar[dict[str, type]] = {
        "data": DataSpec, "model": ModelSpec, "train": TrainSpec, "compress": CompressSpec,
    }

    FLOATS: ClassVar[tuple[str, ...]] = ("eta_over_b",)

    def __post_init__(self) -> None:
        c = _Checker()
        c.positive("eta_over_b", self.eta_over_b)
        c.int_at_least("batch_size", self.batch_size, 1)
        c.int_at_least("seed", self.seed, 0)
        for name, kind in self.NESTED.items():
            if not isinstance(getattr(self, name), kind):
                c.fail(name, f"must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        c.done()
        self._coerce_floats()

    @property
    def eta(self) -> float:
        """The SGD step size. The sweep's coordinate is eta/b; this is the one place eta is derived."""
        return float(self.eta_over_b) * self.batch_size

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(omit_defaults=True), sort_keys=True, separators=(",", ":"))

    def spec_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrialSpec":
        return cls.from_dict(json.loads(text))

    def flat(self) -> dict[str, Any]:
        """Dotted-key view of every field (MLflow params, DataFrame columns)."""
        out: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        # Resolved values, so readers never see "None" for an architecture's default width/depth.
        out["model.width"] = self.model.resolved_width
        out["model.depth"] = self.model.resolved_depth if self.model.arch == "fcn" else None
        out["eta"] = self.eta
        return out
