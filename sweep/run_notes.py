"""What makes an MLflow run explain itself, as plain values (no MLflow import): the markdown note of a
trial run and of the sweep's parent run, source tags (command, user, git commit), and the dataset input.

``sweep.mlflow_runs`` and ``sweep.mlflow_parent`` write them; nothing here talks to a store.
"""
from __future__ import annotations

import getpass
import hashlib
import json
import statistics
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from core import keys
from core.result import TrialResult
from core.spec import DataSpec, TrialSpec
from core.vocab import TRAINED_OUTCOMES

# MLflow's own tag names (mlflow.utils.mlflow_tags), spelled here so that importing this costs no MLflow.
TAG_PARENT = "mlflow.parentRunId"
TAG_NOTE = "mlflow.note.content"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_USER = "mlflow.user"
DATA_CONTEXT_TAG = "mlflow.data.context"
DATASET_SOURCE_TYPE = "tailsweep"


# ---------------------------------------------------------------- source tags
def git_commit(cwd: str | Path | None = None) -> str | None:
    """HEAD of the git checkout holding ``cwd`` (default: the current directory); None outside one."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) >= 7 else None


def source_tags(command: str, cwd: str | Path | None = None) -> dict[str, str]:
    """``mlflow.source.name`` (the tailsweep command), type LOCAL, the user, and the git commit when the
    command runs from a git checkout. Written only where a run lacks them (a later sync never rewrites
    what the run that made the trial recorded)."""
    tags = {TAG_SOURCE_NAME: command, TAG_SOURCE_TYPE: "LOCAL"}
    try:
        tags[TAG_USER] = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user in the environment (containers): leave it out
        pass
    commit = git_commit(cwd)
    if commit:
        tags[TAG_GIT_COMMIT] = commit
    return tags


# ---------------------------------------------------------------- trial notes
def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _prunable_mean(metrics: Mapping[str, float], wset: str) -> tuple[str, float] | None:
    """Mean over layers of the prunable fraction: magnitude/median/eps0.1 when logged, else the first
    (method, center, eps) that is."""
    groups: dict[tuple, list[float]] = {}
    for key, value in metrics.items():
        parsed = keys.parse_key(key)
        if parsed and parsed.family == "prunable" and parsed.wset == wset and parsed.layer is not None:
            groups.setdefault((parsed.method, parsed.center, parsed.eps), []).append(value)
    if not groups:
        return None
    preferred = ("magnitude", "median", 0.1)
    method, center, eps = preferred if preferred in groups else sorted(groups, key=str)[0]
    values = groups[(method, center, eps)]
    return f"{method}, {center}, ε={keys.fmt_eps(eps)}, mean over {len(values)} layers", statistics.fmean(values)


def shown_wset(metrics: Mapping[str, float]) -> str:
    """The weight set a trial's summaries show: the averaged iterate where it was measured, else final."""
    return "avg" if keys.eval_key("avg", "test", "acc") in metrics else "final"


def trial_note(result: TrialResult, tags: Mapping[str, str]) -> str:
    """A trial run's description (markdown): outcome, iterations, fit, α̂, prunable fraction, test accuracy."""
    fit = tags.get(keys.TAG_FIT)
    lines = [f"**{result.status}** after {result.iterations} iterations" + (f", fit: {fit}" if fit else "")]
    metrics = result.metrics
    wset = shown_wset(metrics)
    if result.status in TRAINED_OUTCOMES:
        median = metrics.get(keys.alpha_key(wset, "multi", "median"))
        low = metrics.get(keys.alpha_key(wset, "multi", "min"))
        if median is not None or low is not None:
            lines.append(f"- α̂ ({wset} weights, multi): median {_fmt(median)}, min {_fmt(low)}")
        prunable = _prunable_mean(metrics, wset)
        if prunable is not None:
            lines.append(f"- prunable fraction ({prunable[0]}): {prunable[1]:.3f}")
    acc = metrics.get(keys.eval_key(wset, "test", "acc"))
    if acc is not None:
        lines.append(f"- test accuracy ({wset} weights): {acc:.4f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the sweep's note
CLAIMS_HEADING = "**Claims** (last `tailsweep report`)"


def sweep_note(name: str, axes: Sequence[tuple[str, Sequence]], counts: Mapping[str, int] | None,
               claims: Sequence[str] = ()) -> str:
    """The parent run's description: the grid, the outcome counts and, after a report, the claims."""
    n = 1
    for _, values in axes:
        n *= len(values)
    grid = " × ".join(f"{len(values)} {axis}" for axis, values in axes) or "no axes"
    # Paragraphs apart: a line right after a list item renders inside it, and the UI folds a long note
    # after its first lines, so the outcomes come before the axis values.
    lines = [f"Sweep **{name}**: {n} trials = {grid}"]
    if counts is not None:
        lines += ["", "Outcomes: " + (", ".join(f"{v} {k}" for k, v in counts.items() if v) or "none yet")]
    varying = [f"- {axis}: {', '.join(str(v) for v in values)}" for axis, values in axes if len(values) > 1]
    if varying:
        lines += ["", *varying]
    if claims:
        lines += ["", CLAIMS_HEADING, *[f"- {line}" for line in claims]]
    return "\n".join(lines)


def note_claims(note: str | None) -> list[str]:
    """The claim lines of an earlier sweep note (kept when the counts change)."""
    if not note or CLAIMS_HEADING not in note:
        return []
    tail = note.split(CLAIMS_HEADING, 1)[1]
    return [line[2:] for line in tail.splitlines() if line.startswith("- ")]


def claim_lines(rows: Iterable[Mapping[str, str]]) -> list[str]:
    """One line per row of the report's claims table (tables/claims.csv): claim [group]: verdict (value, CI)."""
    out = []
    for row in rows:
        claim = row.get("claim") or "?"
        group = next((row[k] for k in row if k not in ("claim", "statement", "statistic", "predicted", "value",
                                                        "low", "high", "n_trials", "n_points", "verdict")
                      and row.get(k)), "")
        value = row.get("value")
        ci = f" [{row.get('low')}, {row.get('high')}]" if row.get("low") or row.get("high") else ""
        out.append(f"{claim}{f' ({group})' if group else ''}: **{row.get('verdict', '?')}**"
                   + (f", {row.get('statistic', 'value')} = {value}{ci}" if value else ""))
    return out


# ---------------------------------------------------------------- dataset input
def dataset_input(data: DataSpec) -> dict[str, str]:
    """The fields of an MLflow ``Dataset`` for a trial's data: its name, a stable digest of the data spec,
    a source naming the spec, and a profile with the train/test sample counts (None: the dataset's own size)."""
    spec = asdict(data)
    profile = {"num_train": data.n_train, "num_test": data.n_test}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"name": data.dataset, "digest": digest, "source_type": DATASET_SOURCE_TYPE,
            "source": json.dumps(spec, sort_keys=True, default=str),
            "profile": json.dumps(profile, sort_keys=True)}


def trial_dataset_input(spec: TrialSpec) -> dict[str, str]:
    return dataset_input(spec.data)
