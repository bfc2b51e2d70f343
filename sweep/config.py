"""The sweep file: YAML -> pydantic-checked parts (sweep/config_schema.py) -> a validated grid of TrialSpecs.

Every problem in a file is found in one pass and reported one line each as
``FILE: key.path: problem (allowed: ...)`` through ``UserError``; nothing is started or written before
the whole file is valid. Values are checked by core's spec dataclasses themselves, and their (field,
message) problems are mapped back to the key paths of the file (``grid.width[2]`` for a swept value).
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import ValidationError

from core.spec import DataSpec, SpecError, TrialSpec
from sweep.config_schema import (AXIS_ADAPTERS, DEVICE_FORMS, FIELD_SECTION, PARTS, REQUIRED, SECTION_MODELS,
                                 SECTIONS, TRIAL_AXES, Problem, Resources, Tracking, pydantic_problems, read_yaml,
                                 show, unknown_key)
from sweep.errors import UserError
from sweep.naming import run_name

FILE_DATASETS = ("mnist", "cifar10")   # read from data.root (core/datasets/vision.py)
MAX_TRIALS = 100_000
# Split sizes of the datasets that carry their own data (core/datasets); file datasets are sized by
# their files, known only when read. A size problem found here is not a trial Ray retries and fails.
# Literals, not imports: core.datasets imports torch, which the CLI's validation must not wait for
# (tests/sweep/test_config.py pins them to core's constants).
OWN_SPLITS = {"mnist5k": (4_000, 1_000), "synthetic": (2_000, None)}


# ---- the validated sweep ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedTrial:
    """One grid point: its spec, identity and readable run name."""

    spec: TrialSpec
    spec_hash: str
    name: str
    coords: tuple[tuple[str, Any], ...]   # (axis, value) in grid order
    # Other grid points with this same spec: settings that change nothing (noise_scale with noise 'none',
    # the other noise fields with noise_scale 0) give one spec, so they are one trial, run once.
    same_points: tuple[tuple[tuple[str, Any], ...], ...] = ()


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
    system_metrics: bool = False    # tracking.system_metrics

    @property
    def varying(self) -> tuple[str, ...]:
        return tuple(axis for axis, values in self.axes if len(values) > 1)

    @property
    def grid_points(self) -> int:
        return sum(1 + len(t.same_points) for t in self.trials)

    def to_yaml(self) -> str:
        return yaml.safe_dump(json.loads(json.dumps(self.document)), sort_keys=False)



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
            problems.append((str(key), unknown_key(key, tuple(PARTS))))
            continue
        try:
            parts[key] = PARTS[key].validate_python(value)
        except ValidationError as err:
            problems += pydantic_problems(err, (key,))
            bad = {e["loc"][0] for e in err.errors() if e["loc"]}
            broken |= {key} if not bad else {f"{key}.{b}" for b in bad}
            if bad and isinstance(value, dict):
                try:
                    parts[key] = PARTS[key].validate_python({k: v for k, v in value.items() if k not in bad})
                except ValidationError:
                    broken.add(key)
    problems += [(key, "required key missing") for key in REQUIRED if key not in raw]
    return parts, broken, problems


def _analysis_problems(text: str) -> list[Problem]:
    """The report's defaults (``analysis:``) are checked by analysis itself, before any trial runs."""
    from analysis.options import options_from_sweep_file   # light: no pandas, no MLflow

    try:
        options_from_sweep_file(text)
    except ValueError as err:
        path, _, message = str(err).partition(": ")
        return [(path, message)]
    return []


def _unmeasured_analysis(text: str, specs: list[TrialSpec]) -> list[Problem]:
    """The method or eps of the report this ``analysis:`` section sets up (its fields over the report's
    defaults) that no trial of the sweep measures (compress.methods, compress.eps): that report would be
    refused. Without an ``analysis:`` section the report's options are left to its flags."""
    from analysis.options import options_for, options_from_sweep_file, unmeasured

    methods = {method for spec in specs for method in spec.compress.methods}
    eps = {tolerance for spec in specs for tolerance in spec.compress.eps}
    problem = unmeasured(options_for(text), methods, eps, "any trial of this sweep")
    if problem is None:
        return []
    message = str(problem).partition(": ")[2]
    if problem.field not in options_from_sweep_file(text):
        message += f"; it is the report's default: set analysis.{problem.field}"
    return [(f"analysis.{problem.field}", message)]


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
            problems.append((path, f"must be a list of values, got {show(values)} (write [{show(values)}] "
                                   "for a single value)"))
            continue
        if not values:
            problems.append((path, "empty axis (allowed: a non-empty list of values)"))
            continue
        try:
            typed = AXIS_ADAPTERS[axis].validate_python(values)
        except ValidationError as err:
            problems += pydantic_problems(err, ("grid", axis))
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
    problems += _data_problems(spec.data) + _size_problems(spec)
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


def _size_problems(spec: TrialSpec) -> list[Problem]:
    """Subset sizes beyond a dataset's own split, a batch larger than the training set, a model that
    cannot take the dataset's inputs."""
    data, problems = spec.data, []
    train_size, test_size = OWN_SPLITS.get(data.dataset, (None, None))
    for field, asked, has in (("n_train", data.n_train, train_size), ("n_test", data.n_test, test_size)):
        if asked is not None and has is not None and asked > has:
            problems.append((f"data.{field}", f"{asked} exceeds the {has} examples {data.dataset} has for "
                                              f"that split (allowed: 1..{has})"))
    if spec.model.arch == "vgg11" and data.dataset == "synthetic":  # core.models: image inputs only
        problems.append(("model.arch", "vgg11 needs image inputs and synthetic gives flat vectors "
                                       "(allowed with vgg11: mnist5k, mnist, cifar10; or arch fcn)"))
    train = data.n_train if data.n_train is not None else train_size
    if train is not None and spec.batch_size > train:
        problems.append(("batch_size", f"must be an integer in [1, {train}] (the training set size), "
                                       f"got {spec.batch_size}"))
    return problems


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
    """One PlannedTrial per distinct spec (the first grid point that gives it), in grid order."""
    first: dict[str, tuple[TrialSpec, tuple]] = {}
    same: dict[str, list[tuple]] = {}
    for spec, coords in trials:
        h = spec.spec_hash()
        if h in first:
            same[h].append(coords)
        else:
            first[h], same[h] = (spec, coords), []
    named = [(spec, h, run_name(spec, varying), coords) for h, (spec, coords) in first.items()]
    counts: dict[str, int] = {}
    for _, _, name, _ in named:
        counts[name] = counts.get(name, 0) + 1
    return tuple(PlannedTrial(spec, h, name if counts[name] == 1 else f"{name}-{h[:6]}", coords, tuple(same[h]))
                 for spec, h, name, coords in named)


def parse_sweep(text: str, source: str, base_dir: Path, *, saved: bool = False) -> SweepSpec:
    """Validate a sweep file's text; relative paths in it are relative to ``base_dir``. ``saved``: the
    copy `run` kept under the root, which may predate a change of the file format (``_placement``)."""
    raw = read_yaml(text, source)
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise UserError(f"{source}: top level: must be a mapping of sections, got {got} "
                        f"(allowed: {', '.join(PARTS)})")
    raw, problems = _placement(raw, saved=saved)
    parts, broken, part_problems = _parts(raw)
    problems += part_problems
    analysis_problems = _analysis_problems(text) if "analysis" in parts else []
    problems += analysis_problems
    fixed = {name: parts[name].model_dump(exclude_unset=True) for name in SECTION_MODELS if name in parts}
    fixed = {name: {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()} for name, kw in fixed.items()}
    if fixed.get("data", {}).get("root"):
        fixed["data"]["root"] = _absolute(fixed["data"]["root"], base_dir)
    axes, bad_axes, axis_problems = _axes(parts.get("grid", {}), fixed, base_dir)
    problems += axis_problems
    broken |= {_field_path(axis) for axis in bad_axes | ({"eta_over_b"} - set(axes))}
    trials, grid_problems = _grid_trials(axes, fixed, broken)
    problems += grid_problems
    if "analysis" in parts and not analysis_problems and trials:
        problems += _unmeasured_analysis(text, [spec for spec, _ in trials])
    if problems:
        raise UserError([f"{source}: {path}: {msg}" for path, msg in problems])
    varying = tuple(axis for axis, values in axes.items() if len(values) > 1)
    storage = parts.get("storage")
    document = _document(raw, fixed, axes, base_dir)
    return SweepSpec(name=parts["name"], source=source, axes=tuple(axes.items()), trials=_plan(trials, varying),
                     resources=parts.get("resources", Resources()),
                     tracking_uri=parts.get("tracking", Tracking()).uri,
                     storage=_absolute(storage, base_dir) if storage else None, document=document,
                     system_metrics=parts.get("tracking", Tracking()).system_metrics)


def _placement(raw: Mapping, *, saved: bool) -> tuple[dict, list[Problem]]:
    """``train.device`` (fixed or a grid axis) moved to ``resources.device``: placement is not identity.

    In a file the user gives, it is one clear problem each. A saved copy written before the move is
    still readable (resume, status, sync, report on an existing store): its one device moves over.
    """
    raw = dict(raw)
    train, grid = raw.get("train"), raw.get("grid")
    found: list[tuple[str, Any]] = []
    if isinstance(train, dict) and "device" in train:
        found.append(("train.device", train["device"]))
        raw["train"] = {k: v for k, v in train.items() if k != "device"}
    if isinstance(grid, dict) and "device" in grid:
        values = grid["device"]
        found.append(("grid.device", values[0] if isinstance(values, list) and len(values) == 1 else values))
        raw["grid"] = {k: v for k, v in grid.items() if k != "device"}
    resources = raw.get("resources")
    if saved and len(found) == 1 and isinstance(found[0][1], str) and (
            resources is None or isinstance(resources, dict) and "device" not in resources):
        raw["resources"] = {**(resources or {}), "device": found[0][1]}
        return raw, []
    message = f"moved to resources.device (allowed: {', '.join(DEVICE_FORMS)})"
    return raw, [(path, message) for path, _ in found]


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


def load_sweep(path: str | Path, *, saved: bool = False) -> SweepSpec:
    """Read and validate a sweep file; raises UserError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"{path}: cannot read the sweep file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (a sweep file is YAML)") from None
    return parse_sweep(text, str(path), path.resolve().parent, saved=saved)


def load_saved_sweep(path: str | Path) -> SweepSpec:
    """The sweep file `run` saved under the storage root (found by NAME)."""
    return load_sweep(path, saved=True)
