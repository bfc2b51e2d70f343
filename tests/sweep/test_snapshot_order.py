"""Snapshots written by the sweep keep layer order, so `inspect` labels a VGG's classifier as 'last'."""
from core.inspect import inspect_weights
from core.models import build_model
from core.spec import ModelSpec
from core.weights_io import load_weights
from sweep.snapshots import save_weights


def test_vgg_snapshot_round_trips_in_module_order(tmp_path):
    model = build_model(ModelSpec(arch="vgg11", width=8), (1, 28, 28), 10, seed=0)
    path = save_weights(tmp_path / "final.safetensors", model.state_dict())
    loaded = load_weights(path)
    assert list(loaded) == list(model.state_dict())
    report = inspect_weights(loaded)
    roles = [layer.role for layer in report.layers]
    assert roles[0] == "first" and roles[-1] == "last" and set(roles[1:-1]) == {"hidden"}
    assert len(report.layers[-1].shape) == 2 and all(len(l.shape) == 4 for l in report.layers[:-1])
