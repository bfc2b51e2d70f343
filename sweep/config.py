"""The sweep file: YAML -> pydantic-checked parts -> a validated grid of TrialSpecs.

Every problem in a file is found in one pass and reported one line each as
``FILE: key.path: problem (allowed: ...)`` through ``UserError``; nothing is started or written before
the whole file is valid. The fixed sections (data, model, train, compress) mirror core's spec
dataclasses field by field (their pydantic models are generated from them, so the two cannot drift);
values are then checked by core itself, and its (field, message) problems are mapped back to key paths.
"""
from __future__ import annotations

import difflib
import itertools
import json
import re
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Mapping, Optional, Union

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr,
                      TypeAdapter, ValidationError, create_model, field_validator)

from core.spec import CompressSpec, DataSpec, ModelSpec, SpecError, TrainSpec, TrialSpec
from sweep.errors import UserError
from sweep.naming import run_name
from sweep.paths import check_sweep_name
from sweep.tracking import check_tracking_uri

TRIAL_AXES = ("eta_over_b", "batch_size", "seed")
SECTIONS: Mapping[str, type] = MappingProxyType(
    {"data": DataSpec, "model": ModelSpec, "train": TrainSpec, "compress": CompressSpec})
FIELD_SECTION: Mapping[str, str] = MappingProxyType(
    {f.name: section for section, cls in SECTIONS.items() for f in fields(cls)})
FILE_DATASETS = ("mnist", "cifar10")   # read from data.root (core/datasets/vision.py)
MAX_TRIALS = 100_000
Problem = tuple[str, str]              # (key path, message)

FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


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


class Tracking(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    uri: StrictStr | None = None    # None: sqlite under the storage root

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
})
REQUIRED = ("name", "grid")
_KEYS_AT = {"": tuple(PARTS), **{n: tuple(m.model_fields) for n, m in SECTION_MODELS.items()},
            "resources": tuple(Resources.model_fields), "tracking": tuple(Tracking.model_fields)}


# ---- the validated sweep ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedTrial:
    """One grid point: its spec, identity and readable run name."""

    spec: TrialSpec
    spec_hash: str
    name: str
    coords: tuple[tuple[str, Any], ...]   # (axis, value) in grid order


@dataclass(frozen=True)
class SweepSpec:
    """A whole validated sweep file. ``document`` is the file as it should be saved for ``resume``:
    relative paths made absolute."""

    name: str
    source: str
    axes: tuple[tuple[str, tuple], ...]
    trials: tuple[PlannedTrial, ...]
    resources: Resources
    tracking_uri: str | None
    storage: str | None
    document: Mapping[str, Any]

    @property
    def varying(self) -> tuple[str, ...]:
        return tuple(axis for axis, values in self.axes if len(values) > 1)

    def to_yaml(self) -> str:
        return yaml.safe_dump(json.loads(json.dumps(self.document)), sort_keys=False)


# ---- messages --------------------------------------------------------------------------------------
_TYPE_MESSAGES = {"float_type": "must be a number", "int_type": "must be an integer",
                  "bool_type": "must be true or false", "string_type": "must be a string",
                  "list_type": "must be a list", "dict_type": "must be a mapping",
                  "model_type": "must be a mapping", "model_attributes_type": "must be a mapping",
                  "finite_number": "must be a finite number", "missing": "required key missing"}


def _show(value: Any) -> str:
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


def _pydantic_problems(err: ValidationError, prefix: tuple) -> list[Problem]:
    out = []
    for e in err.errors(include_url=False):
        loc = prefix + tuple(e["loc"])
        kind = e["type"]
        if kind == "extra_forbidden":
            msg = unknown_key(loc[-1], _KEYS_AT.get(_key_path(loc[:-1]), ()))
        elif kind == "value_error":
            msg = str(e["ctx"]["error"])
        elif kind == "missing":
            msg = _TYPE_MESSAGES[kind]
        else:
            base = _TYPE_MESSAGES.get(kind) or e["msg"].replace("Input should be", "must be")
            note = " (true/false is not a number)" if isinstance(e["input"], bool) and "bool" not in kind else ""
            msg = f"{base}, got {_show(e['input'])}{note}"
        out.append((_key_path(loc), msg))
    return out


# ---- parsing ---------------------------------------------------------------------------------------
def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "top level"
        raise UserError(f"{source}: {where}: invalid YAML: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{source}: top level: invalid YAML: {err}") from None


def _parts(raw: Mapping) -> tuple[dict[str, Any], set[str], list[Problem]]:
    """Each top-level part validated on its own, so one bad section does not hide the others' problems.

    A part with problems keeps its valid keys (so their values are still checked); ``broken`` holds the
    key paths already reported, whose later problems would only repeat them.
    """
    parts: dict[str, Any] = {}
    broken: set[str] = set()
    problems: list[Problem] = []
    for key, value in raw.items():
        if key not in PARTS:
            problems.append((str(key), unknown_key(key, _KEYS_AT[""])))
            continue
        try:
            parts[key] = PARTS[key].validate_python(value)
        except ValidationError as err:
            problems += _pydantic_problems(err, (key,))
            bad = {e["loc"][0] for e in err.errors() if e["loc"]}
            broken |= {key} if not bad else {f"{key}.{b}" for b in bad}
            if bad and isinstance(value, dict):
                try:
                    parts[key] = PARTS[key].validate_python({k: v for k, v in value.items() if k not in bad})
                except ValidationError:
                    broken.add(key)
    problems += [(key, "required key missing") for key in REQUIRED if key not in raw]
    return parts, broken, problems


def _absolute(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _field_path(axis: str) -> str:
    return f"{FIELD_SECTION[axis]}.{axis}" if axis in FIELD_SECTION else axis


def _axes(grid: Mapping[str, Any], fixed: Mapping[str, Mapping], base: Path) -> tuple[dict, set[str], list[Problem]]:
    """The valid axes (typed values), the axes already reported as bad, and the problems."""
    axes: dict[str, tuple] = {}
    bad: set[str] = set()
    problems: list[Problem] = []
    if "eta_over_b" not in grid:
        problems.append(("grid.eta_over_b", "required axis missing: the sweep's coordinate "
                                            "(e.g. eta_over_b: [1.0e-3, 4.0e-3])"))
    for axis, values in grid.items():
        path = f"grid.{axis}"
        bad.add(axis)  # until it passes every check below
        if axis not in AXIS_ADAPTERS:
            problems.append((path, unknown_key(axis, tuple(AXIS_ADAPTERS), "axis")))
            continue
        section = FIELD_SECTION.get(axis)
        if section and axis in fixed.get(section, {}):
            problems.append((path, f"swept here and also fixed at {section}.{axis} (keep one)"))
        if not isinstance(values, list):
            problems.append((path, f"must be a list of values, got {_show(values)} (write [{_show(values)}] "
                                   "for a single value)"))
            continue
        if not values:
            problems.append((path, "empty axis (allowed: a non-empty list of values)"))
            continue
        try:
            typed = AXIS_ADAPTERS[axis].validate_python(values)
        except ValidationError as err:
            problems += _pydantic_problems(err, ("grid", axis))
            continue
        if axis == "root":
            typed = [_absolute(v, base) if v is not None else None for v in typed]
        seen = [json.dumps(v, sort_keys=True) for v in typed]
        dups = sorted({s for s in seen if seen.count(s) > 1})
        if dups:
            problems.append((path, f"duplicate values {', '.join(dups)} (each value once)"))
            continue
        axes[axis] = tuple(tuple(v) if isinstance(v, list) else v for v in typed)
        bad.discard(axis)
    return axes, bad, problems


def _build(fixed: Mapping[str, Mapping], coords: Mapping[str, Any]) -> tuple[TrialSpec | None, list[Problem]]:
    """One grid point -> TrialSpec, or the (field path, message) problems core found."""
    sections: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, cls in SECTIONS.items():
        kw = {**fixed.get(name, {}), **{f: v for f, v in coords.items() if FIELD_SECTION.get(f) == name}}
        try:
            sections[name] = cls(**kw)
        except SpecError as err:
            problems += [(f"{name}.{p}", m) for p, m in err.problems]
            sections[name] = cls()
    trial_kw = {a: coords[a] for a in TRIAL_AXES if a in coords}
    trial_kw.setdefault("eta_over_b", 1.0)  # reported missing elsewhere; a stand-in keeps checking the rest
    try:
        spec = TrialSpec(**trial_kw, **sections)
    except SpecError as err:
        return None, problems + err.problems
    problems += _data_problems(spec.data)
    return (None if problems else spec), problems


def _data_problems(data: DataSpec) -> list[Problem]:
    """A missing dataset root is bad input: found here rather than in the first trial."""
    if data.dataset not in FILE_DATASETS:
        return []
    if data.root is None:
        return [("data.root", f"dataset {data.dataset!r} needs a root folder (allowed: a directory that "
                              "holds its files, or receives them with download: true)")]
    if not data.download and not Path(data.root).is_dir():
        return [("data.root", f"directory not found: {data.root} (download is off: put the {data.dataset} "
                              "files there or set data.download: true)")]
    return []


def _grid_trials(axes: Mapping[str, tuple], fixed: Mapping[str, Mapping], broken: set[str]
                 ) -> tuple[list[tuple[TrialSpec, tuple]], list[Problem]]:
    names = list(axes)
    size = 1
    for values in axes.values():
        size *= len(values)
    if size > MAX_TRIALS:
        return [], [("grid", f"{size} trials in the Cartesian product (allowed: at most {MAX_TRIALS})")]
    trials, problems = [], []
    for combo in itertools.product(*(range(len(axes[a])) for a in names)):
        coords = {a: axes[a][i] for a, i in zip(names, combo)}
        spec, found = _build(fixed, coords)
        for path, msg in found:
            field = path.rpartition(".")[2]
            if path in broken or path.partition(".")[0] in broken:
                continue  # already reported as a type problem of that section
            key = f"grid.{field}[{combo[names.index(field)]}]" if field in coords else path
            if (key, msg) not in problems:
                problems.append((key, msg))
        if spec is not None:
            trials.append((spec, tuple(coords.items())))
    return trials, problems


def _plan(trials: list[tuple[TrialSpec, tuple]], varying: tuple[str, ...]) -> tuple[PlannedTrial, ...]:
    named = [(spec, spec.spec_hash(), run_name(spec, varying), coords) for spec, coords in trials]
    counts: dict[str, int] = {}
    for _, _, name, _ in named:
        counts[name] = counts.get(name, 0) + 1
    return tuple(PlannedTrial(spec, h, name if counts[name] == 1 else f"{name}-{h[:6]}", coords)
                 for spec, h, name, coords in named)


def parse_sweep(text: str, source: str, base_dir: Path) -> SweepSpec:
    """Validate a sweep file's text; relative paths in it are relative to ``base_dir``."""
    raw = _read_yaml(text, source)
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise UserError(f"{source}: top level: must be a mapping of sections, got {got} "
                        f"(allowed: {', '.join(PARTS)})")
    parts, broken, problems = _parts(raw)
    fixed = {name: parts[name].model_dump(exclude_unset=True) for name in SECTION_MODELS if name in parts}
    fixed = {name: {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()} for name, kw in fixed.items()}
    if fixed.get("data", {}).get("root"):
        fixed["data"]["root"] = _absolute(fixed["data"]["root"], base_dir)
    axes, bad_axes, axis_problems = _axes(parts.get("grid", {}), fixed, base_dir)
    problems += axis_problems
    broken |= {_field_path(axis) for axis in bad_axes | ({"eta_over_b"} - set(axes))}
    trials, grid_problems = _grid_trials(axes, fixed, broken)
    problems += grid_problems
    if problems:
        raise UserError([f"{source}: {path}: {msg}" for path, msg in problems])
    varying = tuple(axis for axis, values in axes.items() if len(values) > 1)
    storage = parts.get("storage")
    document = _document(raw, fixed, axes, base_dir)
    return SweepSpec(name=parts["name"], source=source, axes=tuple(axes.items()), trials=_plan(trials, varying),
                     resources=parts.get("resources", Resources()),
                     tracking_uri=parts.get("tracking", Tracking()).uri,
                     storage=_absolute(storage, base_dir) if storage else None, document=document)


def _document(raw: Mapping, fixed: Mapping, axes: Mapping, base_dir: Path) -> dict:
    """The file as saved under the storage root: same content, paths absolute (resume runs elsewhere)."""
    doc = json.loads(json.dumps(raw, default=str))
    if fixed.get("data", {}).get("root"):
        doc["data"]["root"] = fixed["data"]["root"]
    if "root" in axes:
        doc["grid"]["root"] = list(axes["root"])
    if doc.get("storage"):
        doc["storage"] = _absolute(doc["storage"], base_dir)
    return doc


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file; raises UserError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"{path}: cannot read the sweep file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (a sweep file is YAML)") from None
    return parse_sweep(text, str(path), path.resolve().parent)
