"""Weight snapshots of a trial: safetensors files (no pickle), written atomically, with checked tags."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from core.atomic import atomic_write
from core.vocab import unknown_value

if TYPE_CHECKING:   # torch is imported where weights are touched: the MLflow side never needs it
    import torch

SNAPSHOT_TAG = re.compile(r"^(init|converged|final|avg|it[0-9]+)$")
SNAPSHOT_TAGS = ("init", "converged", "final", "avg", "it<N>")   # what SNAPSHOT_TAG accepts, for messages


def check_snapshot_tag(tag: str) -> str:
    if not isinstance(tag, str) or not SNAPSHOT_TAG.match(tag):
        raise ValueError(f"tag: {unknown_value(tag, SNAPSHOT_TAGS)}")
    return tag


def save_weights(path: Path, weights: Mapping[str, "torch.Tensor"]) -> Path:
    """Write a state dict as safetensors (no pickle), atomically."""
    from safetensors.torch import save_file

    from core.weights_io import order_metadata

    # safetensors wants contiguous CPU tensors that share no storage.
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in weights.items()}
    # safetensors does not keep insertion order; the metadata does, so `inspect` knows which layer is last.
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=order_metadata(tensors)))


def load_weights(path: Path) -> dict[str, "torch.Tensor"]:
    from safetensors.torch import load_file

    return load_file(str(path))
