"""What a sweep's experiment holds on a tracking server, per trial: lost, duplicated and unfinished runs,
and whether each run's step history equals its trial directory's result.json (shared by tests/postgres and
bench/bench_scale.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from core import keys
from tests.reliability import helpers

# A run's role in a sweep. The trials' runs are all of a sweep's runs until a sweep-level parent run
# exists; once runs carry this tag, trial runs are the ones tagged "trial" and the sweep has exactly one
# run tagged "sweep". The census reads whichever the store holds, so it checks both layouts.
TAG_KIND = "tailsweep.kind"
KIND_TRIAL, KIND_SWEEP = "trial", "sweep"


@dataclass
class Census:
    wanted: list[str]
    trial_runs: dict[str, list] = field(default_factory=dict)   # spec hash -> its trial runs
    parents: list = field(default_factory=list)                 # runs tagged kind=sweep
    kind_tagged: bool = False                                   # some run carries TAG_KIND

    @property
    def lost(self) -> list[str]:
        return [h for h in self.wanted if not self.trial_runs.get(h)]

    @property
    def duplicated(self) -> list[str]:
        return [h for h in self.wanted if len(self.trial_runs.get(h, [])) > 1]

    @property
    def unfinished(self) -> list[str]:
        return [h for h in self.wanted if any(r.info.status != "FINISHED" for r in self.trial_runs.get(h, []))]

    @property
    def extra(self) -> list[str]:
        return sorted(set(self.trial_runs) - set(self.wanted))

    def run(self, spec_hash: str):
        (only,) = self.trial_runs[spec_hash]
        return only

    def problems(self) -> list[str]:
        out = [f"{label}: {hashes}" for label, hashes in (("lost", self.lost), ("duplicated", self.duplicated),
                                                          ("not FINISHED", self.unfinished),
                                                          ("outside the sweep", self.extra)) if hashes]
        if self.parents and len(self.parents) != 1:
            out.append(f"{len(self.parents)} sweep parent runs (want exactly 1)")
        return out


def census(uri: str, sweep: str, hashes: Iterable[str]) -> Census:
    runs = helpers.all_runs(uri, sweep)
    found = Census(wanted=sorted(hashes))
    found.kind_tagged = any(TAG_KIND in r.data.tags for r in runs)
    found.parents = [r for r in runs if r.data.tags.get(TAG_KIND) == KIND_SWEEP]
    trials = [r for r in runs if r.data.tags.get(TAG_KIND) == KIND_TRIAL] if found.kind_tagged else runs
    for run in trials:
        found.trial_runs.setdefault(run.data.tags.get(keys.TAG_SPEC_HASH, "?"), []).append(run)
    return found


def history(uri: str, run, key: str) -> list[tuple[int, str]]:
    """A run's points of one step metric, in trial_dir_histories' form: sorted (step, repr(value))."""
    points = helpers.client(uri).get_metric_history(run.info.run_id, key)
    return sorted((m.step, repr(m.value)) for m in points)


def history_mismatches(uri: str, found: Census, root: Path, sweep: str, metric_keys: Iterable[str] | None = None,
                       ) -> dict[str, str]:
    """spec hash -> what differs between its one run's step history and its result.json history, for
    ``metric_keys`` (default: every step metric in either). Lost or duplicated trials are skipped (the
    census reports them)."""
    out = {}
    for spec_hash in found.wanted:
        if len(found.trial_runs.get(spec_hash, [])) != 1:
            continue
        expected = helpers.trial_dir_histories(helpers.trial_files(root, sweep, spec_hash))
        run = found.run(spec_hash)
        names = list(metric_keys) if metric_keys is not None else sorted(
            {k for k in run.data.metrics if _is_step(k)} | set(expected))
        for key in names:
            got, want = history(uri, run, key), expected.get(key, [])
            if got != want:
                steps_got, steps_want = [s for s, _ in got], [s for s, _ in want]
                out[spec_hash] = (f"{key}: {len(got)} points in MLflow vs {len(want)} in result.json"
                                  f" (doubled steps: {sorted({s for s in steps_got if steps_got.count(s) > 1})},"
                                  f" lost steps: {sorted(set(steps_want) - set(steps_got))})")
                break
    return out


def _is_step(key: str) -> bool:
    from core.keys import is_step_key
    return is_step_key(key) and not helpers.is_timing(key)
