"""What `tailsweep run | resume` print while Tune runs: one trial table under short column names, and
Ray's own chatter (its init banner, INFO logs, log-dedup note, scheduler lines) only with ``-v``.

Ray 2.60's default output engine picks its table's columns itself (the first four keys a trial reports,
cut to 20 characters: ``...rent/multi/layer0``), cannot show a text column (the outcome) or rename one,
and opens with a banner naming Tune's folder ("ray") and a TensorBoard hint. Tune's ``CLIReporter``
takes the columns as {result key: label}; it runs under Tune's older output engine, which
``RAY_AIR_NEW_OUTPUT=0`` selects (a user who exports that variable keeps their choice).
"""
from __future__ import annotations

import logging
import os
import statistics
import sys
from dataclasses import dataclass
from typing import Any, Mapping

from ray import tune

from core import keys
from core.result import TrialResult
from sweep.run_notes import shown_wset

# Result keys a trial reports to Tune for the table (Tune's own record; MLflow has the metric keys).
OUTCOME, ITERATION, TRAIN_LOSS, ALPHA_MEDIAN = "outcome", "iteration", "train_loss", "alpha_median"
SPEC_HASH_PARAM = "trial"              # the Tune config key holding a trial's spec hash (sweep.launch)
REPORT_EVERY_S = 30                    # the table's cadence (Ray's own engine prints every 30 s too)
TUNE_VERBOSITY = 1                     # the old engine's "status updates only": no per-result dumps


def columns(utf8: bool) -> dict[str, str]:
    """Result key -> column label; plain 'alpha' where the terminal cannot print α̂."""
    return {OUTCOME: "outcome", ITERATION: "iter", TRAIN_LOSS: "train loss",
            ALPHA_MEDIAN: "α̂ median" if utf8 else "alpha median"}


def _utf8_stdout() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or ""
    return encoding.lower().replace("-", "").startswith("utf8")


# ---------------------------------------------------------------- the rows (filled inside each trial)
def step_row(latest: Mapping[str, float]) -> dict[str, float]:
    """Table values while a trial trains, from the latest value of every step metric: the train loss of
    the last convergence check and the median α̂ over layers of the current weights (NaN before both)."""
    alphas = [v for k, v in latest.items() if k.startswith(keys.CURRENT_ALPHA_PREFIX)]
    return {TRAIN_LOSS: latest.get(keys.step_key("train", "loss"), float("nan")),
            ALPHA_MEDIAN: statistics.median(alphas) if alphas else float("nan")}


def final_row(result: TrialResult) -> dict[str, Any]:
    """Table values of a finished trial, of the weight set its MLflow description shows."""
    wset = shown_wset(result.metrics)
    nan = float("nan")
    return {OUTCOME: result.status, ITERATION: result.iterations,
            TRAIN_LOSS: result.metrics.get(keys.eval_key(wset, "train", "loss"), nan),
            ALPHA_MEDIAN: result.metrics.get(keys.alpha_key(wset, "multi", "median"), nan)}


# ---------------------------------------------------------------- the driver's side
class SweepReporter(tune.CLIReporter):
    """Tune's status block, headed by the sweep's name; without -v, only the trial counts and the table."""

    def __init__(self, sweep: str, verbose: bool):
        super().__init__(metric_columns=columns(_utf8_stdout()), parameter_columns={SPEC_HASH_PARAM: "spec hash"},
                         print_intermediate_tables=True, max_report_frequency=REPORT_EVERY_S)
        self.sweep = sweep
        self.verbose = verbose

    def report(self, trials, done: bool, *sys_info: str) -> None:
        # sys_info: the scheduler's name and Tune's resource count, setup detail for -v.
        self._print(retitled(self.sweep, self._progress_str(trials, done, *(sys_info if self.verbose else ()))))


def retitled(sweep: str, block: str) -> str:
    """Tune's status block headed by the sweep's name instead of "== Status ==", without its "Result
    logdir" line: the driver's staging folder under /tmp/ray, named after Tune's folder, is not where
    results live (tailsweep's first line names the storage root)."""
    lines = [line for line in block.splitlines() if not line.startswith("Result logdir:")]
    if lines and lines[0] == "== Status ==":
        lines = lines[1:]
    return "\n".join([f"== sweep {sweep} ==", *lines])


@dataclass(frozen=True)
class Console:
    """The console of one `run` or `resume`: quiet by default, Ray's chatter too with ``verbose``."""

    sweep: str
    verbose: bool = False

    @property
    def log_level(self) -> int:
        return logging.INFO if self.verbose else logging.WARNING

    def ray_init_options(self, local: bool) -> dict[str, Any]:
        """ray.init arguments: the driver's Ray loggers at this level, and its workers' too (their INFO
        lines, "Checkpoint successfully created at ...", reach the console through log_to_driver).
        Workers read RAY_LOGGER_LEVEL when they start. A cluster's get it from the job's runtime_env; an
        embedded Ray's inherit it from this process instead (set here), because workers of a runtime_env
        are started afresh, not prestarted (6-8 s more before the first trial here). A RAY_LOGGER_LEVEL the
        user set is left alone."""
        options: dict[str, Any] = {"logging_level": self.log_level}
        if self.verbose or "RAY_LOGGER_LEVEL" in os.environ:
            return options
        if local:
            os.environ["RAY_LOGGER_LEVEL"] = "warning"
        else:
            options["runtime_env"] = {"env_vars": {"RAY_LOGGER_LEVEL": "warning"}}
        return options

    def reporter(self) -> SweepReporter:
        return SweepReporter(self.sweep, self.verbose)

    def prepare(self) -> None:
        """Process-wide settings of the driver, before the tracking store and Ray start."""
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")   # the engine that shows SweepReporter
        if self.verbose:
            return
        import mlflow  # noqa: F401 - importing it configures its loggers: set the level after that

        # "Creating initial MLflow database tables..." on a new store.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        from ray.util.debug import log_once

        # Ray appends a note on RAY_DEDUP_LOGS to the first "[repeated Nx across cluster]" line, once per
        # process under this key; taking the key first leaves the line and drops the note.
        log_once("log_dedup_warning")
