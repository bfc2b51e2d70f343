"""cluster.yaml passes Ray's own autoscaler schema and has what a tailsweep cluster needs."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster.yaml"
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def test_valid_for_rays_schema_as_written_and_as_ray_up_prepares_it(config):
    jsonschema.validate(config, SCHEMA)
    validate_config(prepare_config(copy.deepcopy(config)))   # what `ray up` does before launching


@pytest.mark.parametrize("breakage", [
    lambda c: c["available_node_types"]["gpu_worker"]["resources"].update(GPU=0.5),   # fractions: per trial only
    lambda c: c.update(head_node_type="missing"),
    lambda c: c.update(setup_comands=[]),
], ids=["fractional-node-gpu", "unknown-head-type", "misspelled-key"])
def test_the_validation_catches_broken_configs(config, breakage):
    broken = copy.deepcopy(config)
    breakage(broken)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        jsonschema.validate(broken, SCHEMA)
        validate_config(prepare_config(broken))


def test_head_gpu_and_cpu_worker_types(config):
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}    # the driver's node runs no trials
    gpu = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [n for n, t in types.items() if n != config["head_node_type"] and "GPU" not in t["resources"]]
    assert gpu and cpu


def test_setup_installs_tailsweep_and_mounts_shared_storage(config):
    setup = " ".join(config["setup_commands"])
    assert "pip install" in setup and "~/tailsweep" in setup
    assert config["file_mounts"]["~/tailsweep"] == "."
    assert "/mnt/shared" in setup and "mount" in setup
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
    assert all("RAY_AUTH_MODE=token" in cmd for cmd in config["head_start_ray_commands"] +
               config["worker_start_ray_commands"] if "ray start" in cmd)
