"""Spec loading: a file, a bundled name or YAML text → a validated :class:`Spec`.

The top level is checked here (format version, keys, scale parameters, block definitions);
layer entries stay as located YAML nodes because their expressions can only be evaluated while
the graph is built (they may depend on ``$cin``, the channels flowing in).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import NamedTuple

from .args import suggest
from .errors import Loc, SpecError, describe_int, quote
from .expr import SCALE_RULES, Number, scale_problem
from .ytree import (
    MAX_SPEC_BYTES,
    YMap,
    YNode,
    YScalar,
    YSeq,
    describe_value,
    from_python,
    parse_yaml,
)

FORMAT_VERSION = 1
#: the name of a spec's only input (``input:``); with ``inputs:`` each input has its own name
INPUT_NAME = "input"
_WORD = re.compile(r"^[A-Za-z_][A-Za-z_0-9.]*$")
TOP_KEYS = (
    "archcalc",
    "name",
    "description",
    "input",
    "inputs",
    "outputs",
    "freeze",
    "scale",
    "variants",
    "let",
    "defaults",
    "blocks",
    "layers",
)
BLOCK_KEYS = ("params", "let", "defaults", "layers", "doc")


@dataclass(frozen=True)
class Block:
    """A reusable parametrised block: parameter names (with optional defaults) and its layers."""

    name: str
    params: tuple[str, ...]
    param_defaults: Mapping[str, YNode]
    let: YMap | None
    defaults: YMap | None
    layers: YSeq
    loc: Loc


@dataclass(frozen=True)
class Spec:
    """A parsed, top-level-validated spec. Build a graph from it with :func:`archcalc.build`."""

    name: str
    file: str
    description: str
    input: YSeq
    scale: Mapping[str, Number]
    variants: Mapping[str, Mapping[str, Number]]
    variant: str | None
    let: YMap | None
    defaults: YMap | None
    blocks: Mapping[str, Block]
    layers: YSeq
    root: YMap = field(repr=False)
    text: str = field(default="", repr=False)
    #: every input as (name, shape list): ``(("input", input),)`` for a spec with one `input:`
    inputs: tuple[tuple[str, YSeq], ...] = ()
    #: the ``outputs:`` list as written (names or `{layer: NAME, training: true}`), or None
    outputs: YSeq | None = None
    #: the ``freeze:`` entries (layer names, group paths, ``until: NAME``) for training
    freeze: tuple[FreezeItem, ...] = ()


def specs_dirs() -> list[Path]:
    """Where bundled specs live: ``$ARCHCALC_SPECS`` (os.pathsep-separated), the installed
    package's ``archcalc/specs`` and the source tree's top-level ``specs/``."""
    here = Path(__file__).resolve().parent
    extra = [Path(p) for p in os.environ.get("ARCHCALC_SPECS", "").split(os.pathsep) if p]
    return [d for d in (*extra, here / "specs", here.parent / "specs") if d.is_dir()]


def bundled_names() -> list[str]:
    """Names of the bundled specs (file stems in :func:`specs_dirs`), sorted; variants such as
    ``mobilenet_v2_0.5`` are not listed separately."""
    names: set[str] = set()
    for d in specs_dirs():
        names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def _find_bundled(name: str) -> tuple[Path, str | None] | None:
    """``name`` → (file, variant). ``efficientnet_b3`` may be variant ``b3`` of ``efficientnet``."""
    for d in specs_dirs():
        path = d / f"{name}.yaml"
        if path.is_file():
            return path, None
    parts = name.split("_")
    for cut in range(len(parts) - 1, 0, -1):
        base, variant = "_".join(parts[:cut]), "_".join(parts[cut:])
        for d in specs_dirs():
            path = d / f"{base}.yaml"
            if path.is_file():
                return path, variant
    return None


SpecSource = str | os.PathLike[str] | bytes | Mapping[str, object]


def load_spec(source: SpecSource | Spec, *, variant: str | None = None) -> Spec:
    """Load a spec from a path, a bundled name (``alexnet``), YAML text, the bytes of a YAML
    file (decoded as a file is: UTF-8, a BOM allowed), or a Python mapping. A :class:`Spec` is
    returned as it is. Any other type is a TypeError."""
    if variant is not None and not isinstance(variant, str):
        raise TypeError(f"variant must be a str, got {type(variant).__name__}")
    if isinstance(source, Spec) and variant is None:
        return source
    if isinstance(source, Mapping):
        return parse_spec(from_python(source), "<python>", variant=variant)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return parse_bytes(bytes(source), "<bytes>", variant)
    if isinstance(source, os.PathLike):
        text_source = os.fsdecode(source)
    elif isinstance(source, str):
        text_source = source
    else:
        raise TypeError("load_spec() takes a bundled name, a path, YAML text (str), the bytes of "
                        f"a YAML file or a mapping; got {type(source).__name__}")
    if not isinstance(source, os.PathLike) and (
            "\n" in text_source or text_source.lstrip().startswith("archcalc:")):
        return parse_spec(parse_yaml(text_source, "<text>"), "<text>", text_source, variant)
    path = Path(text_source)
    if path.suffix.lower() == ".onnx":  # an ONNX model, imported in memory (the onnx extra)
        from .onnx_import import onnx_spec

        return onnx_spec(text_source)
    if (isinstance(source, os.PathLike) or path.suffix in (".yaml", ".yml")
            or os.sep in text_source or "/" in text_source or _exists_as_file(path)):
        return _load_file(path, text_source, variant)
    found = _find_bundled(text_source)
    if found is None:
        raise SpecError(
            f"no file and no bundled spec named {text_source!r}",
            loc=Loc(text_source),
            hint=_closest_specs(text_source),
        )
    path, found_variant = found
    return _load_file(path, path.name, variant or found_variant, requested=text_source)


def _exists_as_file(path: Path) -> bool:
    """A path to something other than a directory (a file, a FIFO, a device): read as a spec
    rather than looked up as a bundled name."""
    try:
        return not stat.S_ISDIR(path.stat().st_mode)
    except (OSError, ValueError):
        return False


#: what a spec path may name besides a regular file, read with the size bound applied as it
#: is read: a FIFO or pipe (``<(generate)``, ``/dev/stdin``) and a character device
_STREAM_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device"}
_OTHER_KINDS = {stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket",
                stat.S_IFDIR: "a directory"}


def read_spec_file(path: Path, shown: str) -> bytes:
    """The bytes of a spec file: a regular file (its size checked before reading), or a FIFO,
    pipe or character device (read up to the limit and no further: ``/dev/zero`` is refused
    as too large, ``/dev/null`` is an empty spec). Directories, block devices and sockets are
    refused by name, a missing path as "no such file"."""
    hint = "check the path, or give a bundled name (`archcalc list`)"
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(f"no such file: {shown}", loc=Loc(shown), hint=hint) from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read {shown}: {getattr(exc, 'strerror', None) or exc}",
                        loc=Loc(shown), hint=hint) from None
    kind = stat.S_IFMT(info.st_mode)
    if kind in _OTHER_KINDS:
        raise SpecError(f"{shown} is {_OTHER_KINDS[kind]}, not a spec file", loc=Loc(shown),
                        hint=hint)
    if kind != stat.S_IFREG and kind not in _STREAM_KINDS:
        raise SpecError(f"{shown} is not a regular file", loc=Loc(shown), hint=hint)
    if kind == stat.S_IFREG and info.st_size > MAX_SPEC_BYTES:  # refused before reading
        raise _too_large(f"{info.st_size:,} bytes", shown)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror or exc}", loc=Loc(shown),
                        hint="check the file's permissions") from None
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(f"more than {MAX_SPEC_BYTES:,} bytes", shown)
    return data


def _too_large(size: str, shown: str) -> SpecError:
    return SpecError(
        f"the spec is {size}; the limit is {MAX_SPEC_BYTES:,} bytes",
        loc=Loc(shown),
        hint="split it into blocks and stages: specs describe structure, not unrolled layers",
    )


def decode_spec(data: bytes, shown: str) -> str:
    """The text of a spec file's bytes: not binary, UTF-8 (a BOM is allowed)."""
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(f"{len(data):,} bytes", shown)
    if b"\x00" in data[:8192]:
        raise SpecError("this is a binary file, not a YAML spec", loc=Loc(shown),
                        hint="give a YAML text file; `archcalc show alexnet` prints an example")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"the file is not UTF-8 text (byte {exc.start})",
            loc=Loc(shown),
            hint="save the spec as UTF-8",
        ) from None


def parse_bytes(data: bytes, shown: str, variant: str | None = None) -> Spec:
    """A spec from the bytes of a YAML file (``shown`` names it in messages: ``<stdin>``)."""
    text = decode_spec(data, shown)
    return parse_spec(parse_yaml(text, shown), shown, text, variant)


def _load_file(path: Path, shown: str, variant: str | None, requested: str | None = None) -> Spec:
    text = decode_spec(read_spec_file(path, shown), shown)
    spec = parse_spec(parse_yaml(text, shown), shown, text, variant)
    if requested and variant and variant not in spec.variants:
        raise SpecError(
            f"no bundled spec named {requested!r}",
            loc=Loc(requested),
            hint=_closest_specs(requested),
        )
    return spec


def _closest_specs(name: str) -> str:
    """A hint naming up to three bundled specs closest to ``name`` (difflib ratio ≥ 0.6)."""
    near = get_close_matches(name, bundled_names(), n=3, cutoff=0.6)
    if not near:
        return "`archcalc list` shows the bundled specs"
    return "did you mean " + (near[0] if len(near) == 1 else
                              ", ".join(near[:-1]) + " or " + near[-1]) + "?"


def _number(node: YNode, what: str, key: str) -> Number:
    """A scale value: a plain number, finite, at most 10^15, within the rule of the parameter
    (``width`` positive, …: :func:`archcalc.expr.scale_problem`)."""
    if isinstance(node, YScalar) and isinstance(node.value, (int, float)) and not isinstance(
        node.value, bool
    ):
        problem = scale_problem(key, node.value)
        if problem is not None:
            shown = (describe_int(node.value) if isinstance(node.value, int) else
                     str(node.value))
            raise SpecError(f"{what} needs {problem}, got {shown}", loc=node.loc,
                            hint=SCALE_RULES[key][1] if key in SCALE_RULES else
                            "numbers in a spec are finite and bounded by 10^15")
        return node.value
    got = node.describe() if not isinstance(node, YScalar) else describe_value(node.value)
    raise SpecError(f"{what} must be a number, got {got}", loc=node.loc,
                    hint="write a plain number such as 1.0 (expressions are not allowed here)")


def _map(node: YNode | None, what: str) -> YMap | None:
    if node is None or (isinstance(node, YScalar) and node.value is None):
        return None
    if not isinstance(node, YMap):
        raise SpecError(f"{what} must be a mapping, got {node.describe()}", loc=node.loc,
                        hint="write `key: value` pairs indented under it")
    return node


def check_keys(node: YMap, allowed: tuple[str, ...] | list[str], what: str) -> None:
    """Unknown keys are errors with a did-you-mean suggestion."""
    for key in node:
        if key not in allowed:
            near = suggest(key, allowed)
            raise SpecError(
                f"unknown key {quote(key)} in {what}",
                loc=node.keyloc(key),
                hint=f"did you mean {near!r}?" if near else "allowed: " + ", ".join(allowed),
            )


def parse_spec(root: YNode, file: str, text: str = "", variant: str | None = None) -> Spec:
    """Validate the top level of a spec tree."""
    if not isinstance(root, YMap):
        raise SpecError(
            f"a spec must be a mapping with keys archcalc, name, input, layers; got "
            f"{root.describe()}",
            loc=root.loc,
            hint="start from a bundled spec: `archcalc show alexnet`",
        )
    check_keys(root, TOP_KEYS, "the spec")
    version = root.get("archcalc")
    if version is None:
        raise SpecError(
            "missing the format version `archcalc: 1`",
            loc=root.loc,
            hint="add `archcalc: 1` as the first line",
        )
    if not (isinstance(version, YScalar) and version.value == FORMAT_VERSION
            and not isinstance(version.value, bool)):
        got = repr(version.value) if isinstance(version, YScalar) else version.describe()
        raise SpecError(
            f"unknown format version {got}; this archcalc reads version {FORMAT_VERSION}",
            loc=version.loc,
            hint="write `archcalc: 1`",
        )
    name_node = root.get("name")
    name = str(name_node.value) if isinstance(name_node, YScalar) and name_node.value else ""
    desc_node = root.get("description")
    description = str(desc_node.value) if isinstance(desc_node, YScalar) and desc_node.value else ""

    inputs = _inputs(root)
    input_node = inputs[0][1]
    outputs = root.get("outputs")
    if outputs is not None and not (isinstance(outputs, YSeq) and outputs.items):
        raise SpecError(
            f"`outputs` must be a non-empty list of layer names, got {outputs.describe()}",
            loc=outputs.loc,
            hint="write e.g. `outputs: [boxes, scores]` or "
            "`outputs: [out, {layer: aux, training: true}]`",
        )

    scale: dict[str, Number] = {}
    scale_node = _map(root.get("scale"), "`scale`")
    if scale_node is not None:
        for key, node in scale_node.entries.items():
            scale[key] = _number(node, f"scale parameter {quote(key)}", key)

    variants: dict[str, dict[str, Number]] = {}
    variants_node = _map(root.get("variants"), "`variants`")
    if variants_node is not None:
        for vname, vnode in variants_node.entries.items():
            vmap = _map(vnode, f"variant {vname!r}")
            values: dict[str, Number] = {}
            for key, node in (vmap.entries.items() if vmap else ()):
                if key not in scale:
                    near = suggest(key, list(scale))
                    raise SpecError(
                        f"variant {vname!r} sets {key!r}, which is not a scale parameter",
                        loc=vmap.keyloc(key) if vmap else vnode.loc,
                        hint=f"did you mean {near!r}?" if near else "declare it under `scale:`",
                    )
                values[key] = _number(node, f"variant {vname!r} {key!r}", key)
            variants[vname] = values
    if variant is not None and variant not in variants:
        if variants:
            near = suggest(variant, list(variants))
            hint = f"did you mean {near!r}?" if near else "variants: " + ", ".join(variants)
        else:
            hint = "this spec has no `variants:`"
        raise SpecError(f"no variant {variant!r} in this spec", loc=Loc(file), hint=hint)

    layers = root.get("layers")
    if not isinstance(layers, YSeq) or not layers.items:
        raise SpecError(
            "`layers` must be a non-empty list",
            loc=layers.loc if layers is not None else root.loc,
            hint="list the layers in data-flow order, e.g. `- conv: {out: 64, k: 3}`",
        )

    blocks: dict[str, Block] = {}
    blocks_node = _map(root.get("blocks"), "`blocks`")
    if blocks_node is not None:
        for bname, bnode in blocks_node.entries.items():
            blocks[bname] = _parse_block(bname, bnode)
    if variant is not None:
        name = f"{name} ({variant})" if name else variant
    return Spec(
        name=name or Path(file).stem,
        file=file,
        description=description,
        input=input_node,
        scale={**scale, **(variants.get(variant, {}) if variant else {})},
        variants=variants,
        variant=variant,
        let=_map(root.get("let"), "`let`"),
        defaults=_map(root.get("defaults"), "`defaults`"),
        blocks=blocks,
        layers=layers,
        root=root,
        text=text,
        inputs=inputs,
        outputs=outputs if isinstance(outputs, YSeq) else None,
        freeze=_freeze(root.get("freeze")),
    )


class FreezeItem(NamedTuple):
    """One ``freeze:`` entry: a layer name or group path, or (``until``) the layer before which
    everything is frozen; located for the errors of names that do not exist."""

    name: str
    until: bool
    loc: Loc | None = None


_FREEZE_HINT = ("write `freeze: [conv1, layer1]` (layers and groups), `freeze: {until: layer4}` "
                "(everything before layer4), or both: `freeze: [stem, {until: layer4}]`")


def _freeze(node: YNode | None) -> tuple[FreezeItem, ...]:
    """``freeze:``: a name, a list of names and ``{until: NAME}`` maps, or one such map."""
    if node is None:
        return ()
    items = node.items if isinstance(node, YSeq) else (node,)
    found: list[FreezeItem] = []
    for item in items:
        if isinstance(item, YMap):
            check_keys(item, ("until",), "a freeze entry")
            target = item.get("until")
            until = True
        else:
            target, until = item, False
        if not (isinstance(target, YScalar) and isinstance(target.value, str) and target.value):
            got = target.describe() if target is not None else "nothing"
            raise SpecError(f"`freeze` entries name layers or groups, got {got}",
                            loc=(target or item).loc, hint=_FREEZE_HINT)
        if until and any(f.until for f in found):
            raise SpecError("`freeze` has two `until:` entries", loc=target.loc,
                            hint="give one `until:`; list other frozen layers by name")
        found.append(FreezeItem(target.value, until, target.loc))
    if not found:
        raise SpecError("`freeze` is empty", loc=node.loc, hint=_FREEZE_HINT)
    return tuple(found)


def _shape_list(node: YNode | None, what: str, at: YNode) -> YSeq:
    if not isinstance(node, YSeq):
        raise SpecError(
            f"{what} must be a list such as [3, 224, 224] (channels first, no batch), got "
            + (node.describe() if node is not None else "nothing"),
            loc=node.loc if node is not None else at.loc,
            hint="write e.g. `input: [3, 224, 224]`",
        )
    if not 1 <= len(node.items) <= 4:
        raise SpecError(
            f"{what} has {len(node.items)} entries; give [C], [C, L], [C, H, W] or "
            "[C, D, H, W]",
            loc=node.loc,
            hint="channels first, then 0 to 3 spatial sizes; no batch dimension",
        )
    return node


def _inputs(root: YMap) -> tuple[tuple[str, YSeq], ...]:
    """``input: [shape]`` (one input, named ``input``) or ``inputs: {name: [shape], ...}``
    (several, by name: a Siamese pair, a triplet)."""
    many = root.get("inputs")
    if many is None:
        return ((INPUT_NAME, _shape_list(root.get("input"), "`input`", root)),)
    if "input" in root.entries:
        raise SpecError("give either `input:` or `inputs:`, not both", loc=root.keyloc("inputs"),
                        hint="`inputs: {a: [3, 224, 224], b: [3, 224, 224]}` names each input")
    if not (isinstance(many, YMap) and many.entries):
        raise SpecError(
            f"`inputs` must map each input's name to its shape, got {many.describe()}",
            loc=many.loc, hint="write e.g. `inputs: {left: [1, 105, 105], right: [1, 105, 105]}`")
    found = []
    for name, node in many.entries.items():
        if name == INPUT_NAME or not _WORD.match(name):
            raise SpecError(
                f"{name!r} cannot name an input" + (" (`input` means a block's own input)"
                                                    if name == INPUT_NAME else ""),
                loc=many.keyloc(name), hint="name each input with a word, e.g. `left`, `right`")
        found.append((name, _shape_list(node, f"input {name!r}", many)))
    return tuple(found)


def _parse_block(name: str, node: YNode) -> Block:
    bmap = _map(node, f"block {name!r}")
    if bmap is None:
        raise SpecError(f"block {name!r} is empty", loc=node.loc,
                        hint="give it `layers:` (and `params:` if it takes any)")
    check_keys(bmap, BLOCK_KEYS, f"block {name!r}")
    params: list[str] = []
    param_defaults: dict[str, YNode] = {}
    pnode = bmap.get("params")
    if isinstance(pnode, YSeq):
        for item in pnode.items:
            if not (isinstance(item, YScalar) and isinstance(item.value, str)):
                raise SpecError(f"block {name!r}: params must be names, got {item.describe()}",
                                loc=item.loc, hint="write e.g. `params: [mid, out, s]`")
            params.append(item.value)
    elif isinstance(pnode, YMap):
        for key, value in pnode.entries.items():
            params.append(key)
            if not (isinstance(value, YScalar) and value.value is None):
                param_defaults[key] = value
    elif pnode is not None and not (isinstance(pnode, YScalar) and pnode.value is None):
        raise SpecError(
            f"block {name!r}: params must be a list of names or a mapping name → default",
            loc=pnode.loc,
            hint="write `params: [mid, out]` or `params: {mid: null, s: 1}`",
        )
    layers = bmap.get("layers")
    if not isinstance(layers, YSeq) or not layers.items:
        raise SpecError(
            f"block {name!r} needs a non-empty `layers` list",
            loc=layers.loc if layers is not None else bmap.loc,
            hint="list its layers under `layers:`, e.g. `layers: [{conv: {out: $out, k: 3}}]`",
        )
    return Block(
        name=name,
        params=tuple(params),
        param_defaults=param_defaults,
        let=_map(bmap.get("let"), f"block {name!r} let"),
        defaults=_map(bmap.get("defaults"), f"block {name!r} defaults"),
        layers=layers,
        loc=bmap.loc,
    )
