"""Full training state on disk: tensors as safetensors, everything else as JSON (no pickle)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from core.atomic import atomic_write, atomic_write_text

TENSORS_FILE = "state.safetensors"
META_FILE = "state.json"


@dataclass
class TrainState:
    """What a training loop needs to continue bit-for-bit: named tensors plus JSON-able metadata."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def iteration(self) -> int:
        return int(self.meta.get("iteration", 0))


def save_state(state: TrainState, directory: str | os.PathLike) -> Path:
    """Write ``state`` into ``directory`` (created); the JSON is written last, so its presence means complete."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.tensors.items()}
    atomic_write(directory / TENSORS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    atomic_write_text(directory / META_FILE, json.dumps(state.meta))
    return directory


def load_state(directory: str | os.PathLike) -> TrainState:
    directory = Path(directory)
    meta_path, tensor_path = directory / META_FILE, directory / TENSORS_FILE
    if not meta_path.exists() or not tensor_path.exists():
        raise ValueError(f"{directory}: not a training checkpoint (missing {META_FILE} or {TENSORS_FILE})")
    return TrainState(tensors=load_file(str(tensor_path)), meta=json.loads(meta_path.read_text()))
