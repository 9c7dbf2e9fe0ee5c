"""Which PyTorch tensor of an exported row is which executor tensor: the mapping
``verify --against torch`` uses to load the NumPy executor's seeded weights
(:func:`archcalc.executor.init_weights`) into the module ``archcalc export`` writes, so that
both run the same network and their outputs can be compared value by value. No torch here
(the names are plain strings; tested without torch).

The rule, per row (one node of the graph, one submodule of the module):

* **Layers in order.** The node's layers are its op, then each fused layer (``bn``, ``act``);
  the executor names a fused layer's tensors with its type as a prefix (``bn.gamma``). When the
  row's submodule is an ``nn.Sequential`` (fused bn/act, a padded conv, an fc reading a
  ``[C, 1, 1]`` map through ``nn.Flatten``), its state_dict keys start with the member's index
  (``0.weight``, ``1.running_mean``); the members that hold tensors correspond, in order, to
  the layers that own tensors (a ReLU, a pad or a flatten holds none on either side). A row
  that is one module (no index) is one layer.
* **Names within a layer.** The executor's name, or PyTorch's for the same role: ``gamma`` is
  ``weight`` and ``beta`` is ``bias`` (BatchNorm, LayerNorm, GroupNorm, InstanceNorm,
  FrozenBatchNorm2d); LeNet-5's ``weight[i]`` (one kernel per output map) is ``weight.i`` of
  the ``PartialConv`` helper's ``nn.ParameterList``; a key may sit in an inner module
  (``linear.weight``) — it matches by its last components. Each key matches one tensor.
* **Shapes.** Equal element counts are required; the values are reshaped to PyTorch's shape
  (``PartialConv``'s ``[1, maps, k, k]`` kernel for the executor's ``[maps, k, k]``).
* ``num_batches_tracked`` (BatchNorm's step counter) is no weight and is left as it is.

Anything else (a tensor without a key, a key without a tensor, a count that differs) is a
:class:`WeightMapError` naming both sides: the row is then reported, not loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .shapes import Shape, prod

#: PyTorch's name for an executor tensor's name, where they differ
TORCH_NAMES = {"gamma": "weight", "beta": "bias"}
#: state_dict entries that are no weight of the layer
NOT_WEIGHTS = ("num_batches_tracked",)


class WeightMapError(ValueError):
    """The row's PyTorch tensors and the executor's do not correspond one to one."""


def torch_names(name: str) -> tuple[str, ...]:
    """The names PyTorch may give the executor's tensor ``name`` of one layer: its own, then
    the PyTorch spelling of its role (``gamma`` → ``weight``, ``weight[2]`` → ``weight.2``)."""
    found = [name]
    indexed = re.fullmatch(r"(\w+)\[(\d+)\]", name)
    if indexed:
        found.append(f"{indexed.group(1)}.{indexed.group(2)}")
    if name in TORCH_NAMES:
        found.append(TORCH_NAMES[name])
    return tuple(found)


def _layer_groups(tensors: Sequence[tuple[str, Shape]], prefixes: Sequence[str]
                  ) -> list[list[tuple[str, str, Shape]]]:
    """The executor's tensors by layer, in order: (full name, name within the layer, shape);
    layers without tensors left out."""
    groups: list[list[tuple[str, str, Shape]]] = []
    for prefix in ("", *prefixes):
        own = [(name, name[len(prefix):], shape) for name, shape in tensors
               if (name.startswith(prefix) if prefix else
                   not any(name.startswith(p) for p in prefixes))]
        if own:
            groups.append(own)
    return groups


def _member_groups(keys: Sequence[str]) -> list[list[str]]:
    """The row's state_dict keys by member of its nn.Sequential (first component an index), in
    order; a row that is one module is one group."""
    if _indexed(keys):
        found: dict[str, list[str]] = {}
        for k in keys:
            found.setdefault(k.split(".", 1)[0], []).append(k)
        return [found[m] for m in sorted(found, key=int)]
    return [list(keys)] if keys else []


def row_weight_map(tensors: Sequence[tuple[str, Shape]], prefixes: Sequence[str],
                   keys: Mapping[str, Shape]) -> dict[str, str]:
    """For one row: PyTorch key (relative to the row's submodule) → the executor's tensor name.

    ``tensors``: the executor's (name, shape) of the node in its order (``Node.tensors()``);
    ``prefixes``: the fused layers' name prefixes (``"bn."``, ``"prelu."``) in order; ``keys``:
    the row submodule's state_dict (key → shape) in PyTorch's order. Raises
    :class:`WeightMapError` when they do not correspond one to one."""
    weights = [k for k in keys if k.rsplit(".", 1)[-1] not in NOT_WEIGHTS]
    ours = _layer_groups(tensors, prefixes)
    theirs = _member_groups(weights)
    if len(ours) != len(theirs):
        raise WeightMapError(
            f"{len(ours)} layers with tensors ({_names(ours)}) but PyTorch's module has "
            f"{len(theirs)} members with tensors ({', '.join(k for g in theirs for k in g)})")
    indexed = _indexed(weights)
    found: dict[str, str] = {}
    for mine, members in zip(ours, theirs, strict=True):
        left = list(members)
        strip = members[0].split(".", 1)[0] + "." if indexed else ""
        for full, name, shape in mine:
            match = list(dict.fromkeys(k for cand in torch_names(name) for k in left
                                       if k[len(strip):] == cand or k.endswith("." + cand)))
            if len(match) != 1:
                raise WeightMapError(
                    f"the tensor {full!r} {list(shape)} has "
                    f"{'no' if not match else 'more than one'} PyTorch counterpart among "
                    f"{', '.join(members)}")
            key = match[0]
            if prod(keys[key]) != prod(shape):
                raise WeightMapError(f"the tensor {full!r} {list(shape)} and PyTorch's {key!r} "
                                     f"{list(keys[key])} differ in size")
            found[key] = full
            left.remove(key)
        if left:
            raise WeightMapError(f"PyTorch's {', '.join(left)} match no tensor of the "
                                 f"executor's ({', '.join(n for n, _, _ in mine)})")
    return found


def _indexed(keys: Sequence[str]) -> bool:
    return bool(keys) and all(k.split(".", 1)[0].isdigit() and "." in k for k in keys)


def _names(groups: list[list[tuple[str, str, Shape]]]) -> str:
    return ", ".join(full for g in groups for full, _, _ in g)
