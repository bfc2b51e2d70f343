"""Readable run names: the varying grid axes first, then the trial's identity.

``etab8e-3-w256-s0-fcn3-mnist5k``: the MLflow run table cuts names at about 20 characters, so whatever
differs between the runs of one sweep comes first. The spec hash stays the
identity; a name only has to be unique within its sweep.
"""
from __future__ import annotations

from typing import Any, Sequence

from core.spec import TrialSpec

# Identity tokens in the order they appear when not varying; batch size only when it varies.
_MODEL_FIELDS = ("arch", "depth")
_PREFIXES = {"eta_over_b": "etab", "batch_size": "b", "width": "w", "seed": "s"}
_TAIL = ("eta_over_b", "width", "seed", "model", "dataset")
_NOISE_FIELDS = {"noise": "noise", "noise_scale": "sigma", "noise_alpha": "nalpha", "noise_lr_rescale": "nlr",
                 "noise_exclude": "nexcl", "noise_conv": "nconv"}


def fmt_number(value: float) -> str:
    """1e-3 -> '1e-3', 0.012 -> '1.2e-2', 0.5 -> '0.5', 50 -> '50': short and unambiguous."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if value != 0 and not 0.1 <= abs(value) < 1e5:
        mantissa, _, exponent = f"{value:.12e}".partition("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.12g}"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return fmt_number(value)
    if isinstance(value, (list, tuple)):
        return "+".join(_fmt(v) for v in value)
    return str(value)


def _token(spec: TrialSpec, field: str) -> str:
    """The name token of one axis; arch and depth share the model token ('fcn4', 'vgg11')."""
    if field in ("model", *_MODEL_FIELDS):
        m = spec.model
        return f"fcn{m.resolved_depth}" if m.arch == "fcn" else m.arch
    if field == "width":
        return f"w{spec.model.resolved_width}"
    if field == "dataset":
        return spec.data.dataset
    if field in _PREFIXES:
        return _PREFIXES[field] + _fmt(getattr(spec, field))
    if field in _NOISE_FIELDS:   # no noise is one setting, however the grid spelled it: 'sigma0'
        train = spec.train
        return "sigma0" if not train.has_noise else f"{_NOISE_FIELDS[field]}{_fmt(getattr(train, field))}"
    if field == "parametrization":
        return "mf" if spec.model.parametrization == "mean_field" else "std"
    for section in (spec.data, spec.model, spec.train, spec.compress):
        if hasattr(section, field):
            return f"{field}{_fmt(getattr(section, field))}"
    raise ValueError(f"{field}: not a trial field (no run-name token)")


def run_name(spec: TrialSpec, varying: Sequence[str] = ()) -> str:
    """Varying axes first (in grid order), then eta/b, width, seed, model and dataset."""
    tokens: list[str] = []
    for field in list(varying) + list(_TAIL):
        token = _token(spec, field)
        if token not in tokens:
            tokens.append(token)
    return "-".join(tokens)
