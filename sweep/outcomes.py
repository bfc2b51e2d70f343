"""A trial's outcome as its directory tells it, and counts per outcome (status, the sweep's parent run, sync)."""
from __future__ import annotations

from typing import Iterable

from core.vocab import FAILED, OUTCOMES, PENDING, UNFINISHED
from sweep.trial_store import TrialStore

COUNTED = (*OUTCOMES, UNFINISHED, PENDING)   # every word outcome_counts counts, in order


def trial_outcome(store: TrialStore, spec_hash: str) -> str:
    outcome = store.outcome(spec_hash)
    if outcome is not None:
        return outcome
    if store.failure(spec_hash) is not None:   # the last attempt raised (Ray may still retry it)
        return FAILED
    return UNFINISHED if store.files(spec_hash).spec.exists() else PENDING


def outcome_counts(store: TrialStore, hashes: Iterable[str]) -> dict[str, int]:
    counts = {name: 0 for name in COUNTED}
    for spec_hash in hashes:
        counts[trial_outcome(store, spec_hash)] += 1
    return counts


def sweep_hashes(store: TrialStore, planned: Iterable[str]) -> list[str]:
    """The planned trials, then those of an earlier grid of the same NAME that have a directory (status'
    and the parent run's counts cover both)."""
    planned = list(planned)
    known = set(planned)
    return planned + [h for h in store.hashes() if h not in known]
