"""Read a weights file (safetensors or a torch state_dict) into an ordered name -> tensor dict.

Every failure (missing, unreadable, corrupt, truncated, not a state dict) is a ``WeightsFileError``:
a ValueError whose message is one line naming the file.
"""
from __future__ import annotations

import json
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

# safetensors metadata key holding the JSON list of tensor names in model order (see order_metadata).
ORDER_KEY = "tailsweep.order"
# The torch.save zip format; anything else is tried as safetensors first (its header is a JSON length).
_ZIP_MAGIC = b"PK\x03\x04"


class WeightsFileError(ValueError):
    """A weights file that cannot be used; the message is one line naming the file."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


# torch.load(weights_only=True) on a pickled model names the class it refused.
# torch words it "Unsupported global: GLOBAL x" or (2.13) "Trying to load unsupported GLOBAL x whose ...".
_PICKLED_GLOBAL = re.compile(r"(?i)unsupported global(?::? GLOBAL)? (\S+)")
_UNPICKLER_REASON = re.compile(r"WeightsUnpickler error:\s*(\S[^\n]*)")


def _problem(err: BaseException) -> str:
    """One short line for a parser's exception (torch's unpickler errors are paragraphs)."""
    text = str(err)
    reason = _UNPICKLER_REASON.search(text)
    lines = text.strip().splitlines()
    detail = reason.group(1).strip() if reason else (lines[0].strip() if lines else "")
    return f"{type(err).__name__}: {detail}" if detail else type(err).__name__


def _natural_key(name: str) -> list:
    # 'net.10.weight' after 'net.2.weight': digits compare as numbers.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def order_metadata(names: Iterable[str]) -> dict[str, str]:
    """safetensors metadata recording the state dict's order, for writers:
    ``save_file(tensors, path, metadata=order_metadata(tensors))``."""
    return {ORDER_KEY: json.dumps(list(names))}


def _safetensors_order(names: list[str], metadata: Mapping[str, str] | None) -> list[str]:
    """safetensors stores tensors sorted by dtype and name, not in model order: take the order from the
    file's ``ORDER_KEY`` metadata when present (names listed there first, in that order), else sort
    names with numbers compared numerically (right for nn.Sequential models, not for e.g.
    'classifier' vs 'features')."""
    listed: list[str] = []
    if metadata and ORDER_KEY in metadata:
        try:
            listed = [str(name) for name in json.loads(metadata[ORDER_KEY])]
        except (ValueError, TypeError):
            listed = []
    present = set(names)
    head = [n for n in dict.fromkeys(listed) if n in present]
    rest = sorted(present - set(head), key=_natural_key)
    return head + rest


def _load_safetensors(path: Path) -> "OrderedDict[str, torch.Tensor]":
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        order = _safetensors_order(list(f.keys()), f.metadata())
        return OrderedDict((name, f.get_tensor(name)) for name in order)


def _load_torch(path: Path) -> "OrderedDict[str, torch.Tensor]":
    with warnings.catch_warnings():
        # A plain pickle (not torch.save) makes torch warn about its protocol before refusing it: two
        # stray stderr lines before the one-line error.
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, Mapping):
        raise WeightsFileError(path, f"not a state dict: the file holds a {type(obj).__name__}, "
                                     "not a mapping of parameter names to tensors")
    bad = [(k, v) for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        key, value = bad[0]
        raise WeightsFileError(path, f"not a state dict: entry {key!r} holds a value of type "
                                     f"{type(value).__name__}, not a tensor (save model.state_dict())")
    return OrderedDict(obj.items())


def load_weights(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """All tensors of a safetensors file or a torch state_dict, in model order, on the CPU.

    torch files are read with ``weights_only=True`` (no arbitrary pickles); state_dict order is the
    file's order; safetensors order: see ``_safetensors_order``.
    """
    path = Path(path)
    if not path.exists():
        raise WeightsFileError(path, "no such file")
    if not path.is_file():
        raise WeightsFileError(path, "not a regular file")
    try:
        with path.open("rb") as f:
            head = f.read(len(_ZIP_MAGIC))
    except OSError as err:
        raise WeightsFileError(path, f"cannot read: {err.strerror or err}") from None
    if not head:
        raise WeightsFileError(path, "empty file")
    loaders = (_load_torch,) if head == _ZIP_MAGIC else (_load_safetensors, _load_torch)
    problems = []
    for loader in loaders:
        try:
            tensors = loader(path)
        except WeightsFileError:
            raise
        except Exception as err:  # noqa: BLE001 - third-party parsers raise many types on bad bytes
            found = _PICKLED_GLOBAL.search(str(err))
            if found:
                raise WeightsFileError(path, f"holds pickled Python objects ({found.group(1)}), not only "
                                             "tensors: save model.state_dict() instead") from None
            problems.append(_problem(err))
            continue
        if not tensors:
            raise WeightsFileError(path, "holds no tensors")
        return tensors
    kind = "torch file" if head == _ZIP_MAGIC else "safetensors or torch file"
    raise WeightsFileError(path, f"not a readable {kind} (corrupt or truncated?): "
                                 + "; ".join(dict.fromkeys(problems)))
