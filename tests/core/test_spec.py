import dataclasses
import json

import pytest

from core.spec import CompressSpec, DataSpec, ModelSpec, SpecError, TrainSpec, TrialSpec
from core.vocab import ARCHS, DATASETS

# Pinned: a change here means every finished run of every sweep would be retrained. Only change these
# deliberately (a science change), never to make a refactor pass.
PINNED = [
    (TrialSpec(eta_over_b=1e-3), "129157152b167bb5"),
    (TrialSpec(eta_over_b=8e-3, batch_size=100, seed=2, model=ModelSpec(width=256, depth=3)), "6759f125a553d224"),
    (TrialSpec(eta_over_b=1e-2, model=ModelSpec(arch="vgg11"), data=DataSpec(dataset="cifar10", root="/data"),
               compress=CompressSpec(methods=("magnitude",), scope="global")), "725f9b27f4d5be2a"),
]


@pytest.mark.parametrize("spec,expected", PINNED)
def test_pinned_hashes(spec, expected):
    assert spec.spec_hash() == expected


def test_defaults_are_left_out_of_the_hash():
    assert TrialSpec(eta_over_b=1e-3).spec_hash() == TrialSpec(eta_over_b=1e-3, batch_size=50, seed=0,
                                                               train=TrainSpec(max_iters=1_000_000)).spec_hash()
    assert TrialSpec(eta_over_b=1e-3).canonical_json() == '{"eta_over_b":0.001}'


def test_int_and_float_spellings_hash_alike():
    assert TrialSpec(eta_over_b=1).spec_hash() == TrialSpec(eta_over_b=1.0).spec_hash()
    assert CompressSpec(ratios=(0, 1)).ratios == (0.0, 1.0)


def test_python_lists_are_stored_as_tuples():
    """CompressSpec(ratios=[0.1, 0.5]) was refused: 'must be a non-empty list ..., got [0.1, 0.5]'."""
    listed = CompressSpec(methods=["node"], ratios=[0.1, 0.5], curve_ratios=[0, 0.5], eps=[0.2])
    assert listed == CompressSpec(methods=("node",), ratios=(0.1, 0.5), curve_ratios=(0.0, 0.5), eps=(0.2,))
    assert hash(listed) == hash(CompressSpec(methods=("node",), ratios=(0.1, 0.5), curve_ratios=(0.0, 0.5),
                                             eps=(0.2,)))


def test_any_field_change_changes_the_hash():
    base = TrialSpec(eta_over_b=1e-3)
    others = [TrialSpec(eta_over_b=2e-3), TrialSpec(eta_over_b=1e-3, seed=1),
              TrialSpec(eta_over_b=1e-3, model=ModelSpec(width=512)),
              TrialSpec(eta_over_b=1e-3, train=TrainSpec(post_converge_iters=3000)),
              TrialSpec(eta_over_b=1e-3, compress=CompressSpec(eps=(0.05,)))]
    hashes = {s.spec_hash() for s in others} | {base.spec_hash()}
    assert len(hashes) == len(others) + 1


def test_round_trip_dict_and_json():
    spec = PINNED[2][0]
    assert TrialSpec.from_dict(spec.to_dict()) == spec
    assert TrialSpec.from_json(spec.to_json()) == spec
    assert TrialSpec.from_json(spec.to_json()).spec_hash() == spec.spec_hash()
    assert json.loads(spec.to_json())["compress"]["methods"] == ["magnitude"]


def test_eta_is_derived_from_eta_over_b_and_batch_size():
    assert TrialSpec(eta_over_b=2e-3, batch_size=100).eta == pytest.approx(0.2)


@pytest.mark.parametrize("build,field,allowed", [
    (lambda: ModelSpec(arch="resnet"), "arch", "fcn, vgg11"),
    (lambda: DataSpec(dataset="imagenet"), "dataset", "mnist5k"),
    (lambda: CompressSpec(methods=("magnitude", "lottery")), "methods", "magnitude, singular, node"),
    (lambda: CompressSpec(scope="team"), "scope", "layer, global"),
    (lambda: CompressSpec(center="mean"), "center", "median, none"),
])
def test_unknown_names_list_the_allowed_values(build, field, allowed):
    with pytest.raises(SpecError) as err:
        build()
    assert err.value.problems[0][0] == field
    assert allowed in str(err.value)


@pytest.mark.parametrize("build,field", [
    (lambda: ModelSpec(width=0), "width"),
    (lambda: ModelSpec(depth=1), "depth"),
    (lambda: ModelSpec(arch="vgg11", depth=4), "depth"),
    (lambda: TrialSpec(eta_over_b=0.0), "eta_over_b"),
    (lambda: TrialSpec(eta_over_b=float("nan")), "eta_over_b"),
    (lambda: TrialSpec(eta_over_b=True), "eta_over_b"),
    (lambda: TrialSpec(eta_over_b=1e-3, batch_size=0), "batch_size"),
    (lambda: TrialSpec(eta_over_b=1e-3, seed=-1), "seed"),
    (lambda: CompressSpec(ratios=(0.1, 1.5)), "ratios"),
    (lambda: CompressSpec(ratios=(0.1, 0.1)), "ratios"),
    (lambda: CompressSpec(eps=(0.0,)), "eps"),
    (lambda: CompressSpec(methods=("singular",), scope="global"), "scope"),
    (lambda: TrainSpec(max_iters=0), "max_iters"),
    (lambda: TrainSpec(diverge_acc=1.5), "diverge_acc"),
])
def test_invalid_values_name_their_field(build, field):
    with pytest.raises(SpecError) as err:
        build()
    assert [p[0] for p in err.value.problems] == [field]


def test_all_problems_of_a_spec_are_reported_at_once():
    with pytest.raises(SpecError) as err:
        TrialSpec.from_dict({"eta_over_b": -1, "batch_size": 0, "seed": 0})
    assert {p[0] for p in err.value.problems} == {"eta_over_b", "batch_size"}


def test_from_dict_prefixes_nested_fields_and_rejects_unknown_keys():
    with pytest.raises(SpecError) as err:
        TrialSpec.from_dict({"eta_over_b": 1e-3, "model": {"arch": "fcn", "widht": 3}})
    assert err.value.problems[0][0] == "model.widht"
    assert "unknown field" in str(err.value)


def test_registries_match_the_spec_vocabulary():
    from core.data import dataset_names
    from core.models import model_names

    assert set(dataset_names()) == set(DATASETS)
    assert set(model_names()) == set(ARCHS)


def test_flat_view_has_resolved_architecture_values():
    flat = TrialSpec(eta_over_b=1e-3, batch_size=100).flat()
    assert flat["model.width"] == 2048 and flat["model.depth"] == 4
    assert flat["eta"] == pytest.approx(0.1)
    assert flat["data.dataset"] == "mnist5k"


def test_device_is_placement_not_a_spec_field():
    """Placement left the spec: an old record's train.device is dropped on reading, and the hash is the
    hash of the same spec without it."""
    assert "device" not in {f.name for f in dataclasses.fields(TrainSpec)}
    plain = TrialSpec(eta_over_b=1e-3)
    legacy = plain.to_dict()
    legacy["train"]["device"] = "cuda"
    assert TrialSpec.from_dict(legacy) == plain
    assert TrialSpec.from_dict(legacy).spec_hash() == plain.spec_hash()


def test_run_trial_rejects_an_unknown_device_before_any_work():
    from core.pipeline import resolve_device
    from core.vocab import ChoiceError
    with pytest.raises(ChoiceError) as err:
        resolve_device("tpu")
    assert str(err.value).startswith("device: unknown value 'tpu' (allowed: auto, cpu, cuda, cuda:N)")
    assert resolve_device("cpu").type == "cpu"
