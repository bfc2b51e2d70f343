"""Screenshots of a sweep in the MLflow UI (issue 12, "Done when"): a tailsweep store opened in
`mlflow ui` and looked at in headless Chromium.

    python bench/ui_screenshots.py NAME [--storage DIR] [--out DIR] [--chromium PATH]

Starts `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --workers 1` on 127.0.0.1 and a free port, on
the store `tailsweep run` made (sqlite:///<storage>/mlflow.db, artifacts under <storage>/artifacts), waits
for /health, and saves one PNG per page (1600 px wide; run overviews 1800 px tall, the rest 1000), each
in the UI's model-training view (`?workflowType=machine_learning`):

    1-runs.png             the experiment's runs list
    2-parent.png           the sweep's parent run: child runs, source, tags, description, outcomes/* metrics
    3-trial.png            one trial run's overview (a well-fitting one): parent, source, dataset, tags,
                           description, metrics, params
    4-trial-metrics.png    that trial's model-metrics tab
    5-parent-report.png    the parent's artifacts, opened at report/index.html

Run ids come from MlflowClient (the parent by its tailsweep.kind tag). At the end it stops the server by
process id (SIGTERM, then SIGKILL for anything of its tree still alive) and prints the processes it had
and whether any is left (exit 1 if one is). Needs Chromium (`apt-get install chromium`).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

for _key, _value in (("MLFLOW_DISABLE_TELEMETRY", "true"), ("DO_NOT_TRACK", "1")):
    os.environ.setdefault(_key, _value)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core import keys  # noqa: E402
from core.vocab import FIT_GOOD, RUN_KIND_SWEEP  # noqa: E402
from sweep.mlflow_parent import REPORT_ARTIFACT_DIR  # noqa: E402
from sweep.paths import Layout, resolve_root  # noqa: E402
from tests.reliability import helpers  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTH = 1600
VIRTUAL_TIME_MS = 15_000   # Chromium's virtual clock: the UI's requests and renders settle within it
SHORT, TALL = 1000, 1800   # window heights: a run's overview needs 1800 px to reach its description
# The UI shows an HTML artifact in a sandboxed blob: iframe, a separate renderer under site isolation
# that --screenshot captures blank; one renderer (and drawing every compositor stage) shows the report.
ONE_RENDERER = ["--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process",
                "--run-all-compositor-stages-before-draw"]


def start_ui(layout: Layout, log: Path, timeout: float = 120) -> tuple[helpers.Spawned, str]:
    """`mlflow ui` on the store, lean (no job-runner process, one worker); (process, base URL)."""
    port = helpers.free_port()
    cmd = [sys.executable, "-m", "mlflow", "ui", "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", layout.tracking_uri, "--default-artifact-root", str(layout.artifact_root)]
    server = helpers.Spawned(cmd, log, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, cwd=log.parent)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    helpers.wait_for(healthy, timeout, "mlflow ui healthy", proc=server, every=0.3)
    return server, url


def stop_ui(server: helpers.Spawned) -> tuple[list[helpers.ProcInfo], list[helpers.ProcInfo]]:
    """SIGTERM to the server's pid (it stops its workers), SIGKILL to whatever of its tree outlives that;
    (every process it had, those still alive after)."""
    had = list({info.pid: info for info in [*server.seen.values(), *server.watch()]}.values())
    try:
        os.kill(server.pid, signal.SIGTERM)
        server.proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    deadline = time.monotonic() + 10
    while any(helpers.alive(info) for info in had) and time.monotonic() < deadline:
        time.sleep(0.2)
    server.kill_all()   # by (pid, start time): only this server's processes
    return had, [info for info in had if helpers.alive(info)]


def screenshot(chromium: str, url: str, out: Path, height: int, timeout: float = 180) -> None:
    """One PNG of ``url``, from a fresh profile (with one profile shared by all pages, the third
    Chromium once hung for good); Chromium's whole tree is killed by pid if it overruns."""
    with tempfile.TemporaryDirectory(prefix="ui-shot-") as profile:
        cmd = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},{height}",
               f"--virtual-time-budget={VIRTUAL_TIME_MS}", "--hide-scrollbars", *ONE_RENDERER,
               f"--user-data-dir={profile}", f"--screenshot={out}", url]
        browser = helpers.Spawned(cmd, out.parent / "chromium.log")
        code = browser.wait(timeout)
        browser.kill_all()   # its zygote and renderers, should any outlive it
    if code != 0 or not out.is_file():
        raise RuntimeError(f"chromium failed on {url} ({code}): see {out.parent / 'chromium.log'}")


def pages(layout: Layout, url: str, sweep: str) -> dict[str, tuple[str, int]]:
    """File name -> (UI address, window height), ids found with MlflowClient."""
    from mlflow import MlflowClient

    client = MlflowClient(layout.tracking_uri)
    experiment = client.get_experiment_by_name(sweep)
    if experiment is None:
        raise SystemExit(f"ui_screenshots: no experiment {sweep!r} in {layout.tracking_uri}")
    exp = experiment.experiment_id
    runs = client.search_runs([exp], order_by=["attributes.run_name ASC"])
    parent = next((r for r in runs if r.data.tags.get(keys.TAG_KIND) == RUN_KIND_SWEEP), None)
    trials = [r for r in runs if r.data.tags.get(keys.TAG_KIND) != RUN_KIND_SWEEP]
    if parent is None or not trials:
        raise SystemExit(f"ui_screenshots: experiment {sweep!r} needs a parent run and trial runs "
                         f"(found {len(runs)} runs)")
    # A trial that fits (the report's statistics use those), else the first by name.
    trial = next((r for r in trials if r.data.tags.get(keys.TAG_FIT) == FIT_GOOD), trials[0]).info.run_id
    base = f"{url}/#/experiments/{exp}"
    # The UI picks its model-training view (not GenAI) from this parameter, on every page it opens.
    view = "?workflowType=machine_learning"
    parent_page = f"{base}/runs/{parent.info.run_id}"
    return {
        "1-runs.png": (f"{base}/runs{view}", SHORT),
        "2-parent.png": (f"{parent_page}{view}", TALL),
        "3-trial.png": (f"{base}/runs/{trial}{view}", TALL),
        "4-trial-metrics.png": (f"{base}/runs/{trial}/model-metrics{view}", SHORT),
        "5-parent-report.png": (f"{parent_page}/artifacts/{REPORT_ARTIFACT_DIR}/index.html{view}", SHORT),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", metavar="NAME", help="the sweep (its MLflow experiment)")
    parser.add_argument("--storage", metavar="DIR", help="the tailsweep storage root (default ./tailsweep)")
    parser.add_argument("--out", metavar="DIR", default="/tmp/ui_shots", help="where the PNGs go")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    layout = Layout(resolve_root(args.storage))
    if not (layout.root / "mlflow.db").is_file():
        raise SystemExit(f"ui_screenshots: no MLflow store at {layout.root / 'mlflow.db'}")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    server, url = start_ui(layout, out / "mlflow-ui.log")
    try:
        for name, (address, height) in pages(layout, url, args.name).items():
            started = time.monotonic()
            screenshot(args.chromium, address, out / name, height)
            print(f"{out / name}  ({time.monotonic() - started:.0f} s)  {address}")
    finally:
        had, left = stop_ui(server)
    print(f"mlflow ui had {len(had)} processes: "
          + "; ".join(f"{p.pid} {p.cmdline.strip()[:90]}" for p in had))
    print("left after stopping it: " + ("none" if not left else ", ".join(str(p.pid) for p in left)))
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
