"""Fault 3: a two-node Ray cluster loses its worker node mid-sweep; the sweep completes on the head.

`ray.cluster_utils.Cluster` runs in its own process (head + one worker node, 1 CPU each, on this
machine). `tailsweep run --address` drives a 2-trial sweep on it, one trial per node. Once the trial on
the worker node is past a checkpoint, the cluster process removes that node (its raylet and workers are
killed); Tune retries the lost trial on the head, and every trial finishes with one MLflow run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sweep.paths import Layout
from tests.reliability import helpers

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]
NAME = "lost-node"

CLUSTER = textwrap.dedent("""\
    import json, sys, time
    from pathlib import Path
    from ray.cluster_utils import Cluster

    folder = Path(sys.argv[1])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    raylet = worker.all_processes["raylet"][0].process.pid
    (folder / "cluster.json").write_text(json.dumps({"address": cluster.address, "worker_raylet": raylet}))
    while not (folder / "remove").exists():
        time.sleep(0.05)
    cluster.remove_node(worker)
    (folder / "removed").touch()
    while not (folder / "stop").exists():
        time.sleep(0.2)
    cluster.shutdown()
""")


def test_sweep_completes_after_its_worker_node_is_removed(spawn, tmp_path, reference, reference_records):
    (tmp_path / "cluster.py").write_text(CLUSTER)
    cluster = helpers.Spawned([sys.executable, str(tmp_path / "cluster.py"), str(tmp_path)], tmp_path / "cluster.log")
    spawn.started.append(cluster)          # reaped at teardown with the sweep
    try:
        info = json.loads(helpers.wait_for(lambda: (tmp_path / "cluster.json").exists() and
                                           (tmp_path / "cluster.json").read_text(), 120, "cluster up", proc=cluster))
        path, trials = helpers.write_sweep(tmp_path, NAME, etas=(1.0e-3, 2.0e-3), widths=(16,), concurrent=2)
        root = tmp_path / "store"
        driver = spawn(["run", str(path), "--address", info["address"], "--storage", str(root)],
                       tmp_path / "run.log")

        def on_worker_node() -> set[int]:
            cluster.watch()
            return {p.pid for p in helpers.descendants(info["worker_raylet"])}

        def victim_past_a_checkpoint():
            node = on_worker_node()
            for trial in trials:
                reports = helpers.tune_reports(root, NAME, trial)
                if reports and reports[-1]["pid"] in node and any(
                        r["pid"] == reports[-1]["pid"] for r in helpers.registered_checkpoints(reports)):
                    return trial, reports[-1]["pid"]
            return None

        victim, pid = helpers.wait_for(victim_past_a_checkpoint, 240, "a trial on the worker node past a checkpoint",
                                       proc=driver)
        (tmp_path / "remove").touch()
        helpers.wait_for(lambda: (tmp_path / "removed").exists(), 60, "worker node removed", proc=cluster)
        assert not helpers.trial_files(root, NAME, victim.spec_hash).is_done(), "victim finished first: too short"

        assert driver.wait(timeout=300) == 0, helpers.tail(driver.output())
    finally:
        (tmp_path / "stop").touch()
        try:
            cluster.wait(timeout=60)
        finally:
            cluster.kill_all()

    first, retry = helpers.attempts(helpers.tune_reports(root, NAME, victim))
    assert {r["pid"] for r in first} == {pid} and pid not in {r["pid"] for r in retry}   # rerun elsewhere
    assert retry[0]["iteration"] > 100                       # ... from its checkpoint, not from the start
    uri = Layout(root).tracking_uri
    records = helpers.store_records(uri, NAME, [t.spec_hash for t in trials])   # one run per trial
    for trial in trials:
        files = helpers.trial_files(root, NAME, trial.spec_hash)
        assert files.is_done()
        helpers.assert_same_run(records[trial.spec_hash], reference_records[trial.spec_hash], trial.name)
        assert helpers.result_without_timing(files) == helpers.result_without_timing(
            helpers.trial_files(reference.root, reference.sweep, trial.spec_hash))


EMBEDDED_BESIDE_A_CLUSTER = textwrap.dedent("""\
    import ray
    from ray.cluster_utils import Cluster
    from sweep.launch import init_ray

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        init_ray()                         # tailsweep run without --address
        own = ray.get_runtime_context().gcs_address
        print("cluster", cluster.address, "embedded", own, "nodes", len(ray.nodes()))
        ray.shutdown()
    finally:
        cluster.shutdown()
""")


def test_an_embedded_sweep_starts_its_own_ray_beside_a_running_cluster(tmp_path):
    # Ray's plain ray.init() joins the cluster the machine's last `ray start` recorded (a Cluster writes that
    # record too): an embedded sweep beside another user's cluster ran on it, and died with it.
    script = tmp_path / "embedded.py"
    script.write_text(EMBEDDED_BESIDE_A_CLUSTER)
    env = {**os.environ, **helpers.ENV, "PYTHONPATH": str(helpers.REPO)}
    env.pop("RAY_ADDRESS", None)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    _, cluster, _, embedded, _, nodes = out.stdout.split()
    assert embedded != cluster and nodes == "1"
