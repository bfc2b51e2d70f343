"""The sweep file's schema: YAML reading, strict pydantic types for every part, one-line messages.

The fixed sections' models are generated from core's spec dataclasses (field names and types), so the
sweep file and the specs cannot drift apart; values are checked by core itself (sweep/config.py).
"""
from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import fields
from types import MappingProxyType
from typing import Annotated, Any, Mapping, Optional, Union

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr,
                      TypeAdapter, ValidationError, create_model, field_validator)

from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec
from core.vocab import DEVICES, unknown_value
from sweep.errors import UserError
from sweep.paths import check_sweep_name
from sweep.tracking_config import check_tracking_uri

TRIAL_AXES = ("eta_over_b", "batch_size", "seed")
SECTIONS: Mapping[str, type] = MappingProxyType(
    {"data": DataSpec, "model": ModelSpec, "train": TrainSpec, "compress": CompressSpec})
FIELD_SECTION: Mapping[str, str] = MappingProxyType(
    {f.name: section for section, cls in SECTIONS.items() for f in fields(cls)})
Problem = tuple[str, str]              # (key path, message)
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]
DEVICE_FORMS = (*DEVICES, "cuda:N")    # resources.device values, as messages name them


# ---- YAML ------------------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a number (YAML 1.1 wants ``1.0e-3``) and rejects duplicate keys."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):
                continue  # SafeLoader itself rejects unhashable keys with a marked error
            if key in seen:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


# ---- schema ----------------------------------------------------------------------------------------
def _strict(hint: Any) -> Any:
    """core's field annotation -> the strict pydantic type (a bool is not a number; tuples are lists)."""
    simple = {bool: StrictBool, int: StrictInt, float: FiniteFloat, str: StrictStr}
    if hint in simple:
        return simple[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return Union[tuple(a if a is type(None) else _strict(a) for a in args)]  # type: ignore[return-value]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[_strict(args[0])]  # type: ignore[misc]
    raise TypeError(f"no sweep-file type for spec annotation {hint!r}")


def _section_model(cls: type) -> type[BaseModel]:
    hints = typing.get_type_hints(cls)
    return create_model(f"{cls.__name__}File", __config__=ConfigDict(extra="forbid"),
                        **{f.name: (_strict(hints[f.name]), None) for f in fields(cls)})


SECTION_MODELS: Mapping[str, type[BaseModel]] = MappingProxyType(
    {name: _section_model(cls) for name, cls in SECTIONS.items()})
_AXIS_HINTS = {**{n: typing.get_type_hints(TrialSpec)[n] for n in TRIAL_AXES},
               **{f: typing.get_type_hints(SECTIONS[s])[f] for f, s in FIELD_SECTION.items()}}
AXIS_ADAPTERS: Mapping[str, TypeAdapter] = MappingProxyType(
    {name: TypeAdapter(list[_strict(hint)]) for name, hint in _AXIS_HINTS.items()})  # type: ignore[misc]


def _whole_above_one(value: float) -> float:
    if value > 1 and value != int(value):
        raise ValueError(f"above 1 must be a whole number, got {value} (allowed: a fraction below 1, "
                         "which packs trials, or an integer)")
    return value


class Resources(BaseModel):
    """What one trial asks Ray for, how many run at once, and how failures are retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cpus_per_trial: Annotated[FiniteFloat, Field(gt=0), AfterValidator(_whole_above_one)] = 1.0
    gpus_per_trial: Annotated[FiniteFloat, Field(ge=0), AfterValidator(_whole_above_one)] = 0.0
    max_concurrent: Annotated[StrictInt, Field(ge=1)] | None = None    # None: as many as resources allow
    max_failures: Annotated[StrictInt, Field(ge=0)] = 2                 # Ray retries of a failed trial
    checkpoint_every_s: Annotated[FiniteFloat, Field(ge=0)] = 60.0      # 0: at every checkpoint point
    # Placement, not identity: where each trial trains. Under Ray, 'cuda' is the GPU Ray assigned.
    device: StrictStr = "auto"

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if device not in DEVICES and not device.startswith("cuda:"):
            raise ValueError(unknown_value(device, DEVICE_FORMS))
        return device


class Tracking(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    uri: StrictStr | None = None    # None: sqlite under the storage root
    system_metrics: StrictBool = False   # MLflow system metrics per trial run (needs psutil)

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str | None) -> str | None:
        problem = check_tracking_uri(uri) if uri is not None else None
        if problem:
            raise ValueError(problem)
        return uri


def _sweep_name(name: str) -> str:
    problem = check_sweep_name(name)
    if problem:
        raise ValueError(problem)
    return name


PARTS: Mapping[str, TypeAdapter] = MappingProxyType({
    "name": TypeAdapter(Annotated[StrictStr, AfterValidator(_sweep_name)]),
    **{name: TypeAdapter(model) for name, model in SECTION_MODELS.items()},
    "grid": TypeAdapter(dict[StrictStr, Any]),
    "resources": TypeAdapter(Resources),
    "tracking": TypeAdapter(Tracking),
    "storage": TypeAdapter(Optional[Annotated[StrictStr, Field(min_length=1)]]),
    # the report's defaults for this sweep (method, eps, min_train_acc, ...); analysis checks the values
    "analysis": TypeAdapter(dict[StrictStr, Any]),
})
REQUIRED = ("name", "grid")
KEYS_AT = {"": tuple(PARTS), **{n: tuple(m.model_fields) for n, m in SECTION_MODELS.items()},
            "resources": tuple(Resources.model_fields), "tracking": tuple(Tracking.model_fields)}


# ---- messages --------------------------------------------------------------------------------------
_TYPE_MESSAGES = {"float_type": "must be a number", "int_type": "must be an integer",
                  "bool_type": "must be true or false", "string_type": "must be a string",
                  "list_type": "must be a list", "dict_type": "must be a mapping",
                  "model_type": "must be a mapping", "model_attributes_type": "must be a mapping",
                  "finite_number": "must be a finite number", "missing": "required key missing"}


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def unknown_key(key: Any, allowed: tuple[str, ...], what: str = "key") -> str:
    close = difflib.get_close_matches(str(key).rpartition(".")[2], allowed, n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {what}{hint} (allowed: {', '.join(allowed)})"


def pydantic_problems(err: ValidationError, prefix: tuple) -> list[Problem]:
    out = []
    for e in err.errors(include_url=False):
        loc = prefix + tuple(e["loc"])
        kind = e["type"]
        if kind == "extra_forbidden":
            msg = unknown_key(loc[-1], KEYS_AT.get(_key_path(loc[:-1]), ()))
        elif kind == "value_error":
            msg = str(e["ctx"]["error"])
        elif kind == "missing":
            msg = _TYPE_MESSAGES[kind]
        else:
            base = _TYPE_MESSAGES.get(kind) or e["msg"].replace("Input should be", "must be")
            note = " (true/false is not a number)" if isinstance(e["input"], bool) and "bool" not in kind else ""
            msg = f"{base}, got {show(e['input'])}{note}"
        out.append((_key_path(loc), msg))
    return out



def read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "top level"
        raise UserError(f"{source}: {where}: invalid YAML: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{source}: top level: invalid YAML: {err}") from None
