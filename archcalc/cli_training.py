"""``archcalc table SPEC --training``: the command-line side of :mod:`archcalc.training` (thin:
options in, the library's report out)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?i?B?)\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2,
            "G": 1000**3, "GB": 1000**3, "T": 1000**4, "TB": 1000**4, "P": 1000**5,
            "PB": 1000**5, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
            "PIB": 2**50, "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40, "PI": 2**50}
#: the largest budget --fit takes (a petabyte of device memory is far beyond any device)
MAX_FIT = 2**60


def parse_size(text: str) -> int:
    """A memory size as people write it: ``24GiB`` (2³⁰), ``16GB`` (10⁹), ``1.5 GiB``, ``512``
    (bytes). Raises :class:`click.BadParameter` otherwise."""
    m = _SIZE.match(text)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _FACTORS:
        raise click.BadParameter(f"{text!r} is not a memory size; write e.g. 24GiB, 16GB, "
                                 "1.5GiB or a number of bytes", param_hint="--fit")
    value = round(float(m.group(1)) * _FACTORS[unit])
    if not 0 < value <= MAX_FIT:
        raise click.BadParameter(f"{text!r} must be more than 0 B and at most 1 EiB",
                                 param_hint="--fit")
    return value


def training_options(fn: F) -> F:
    """--training, --optimizer, --master-weights, --freeze, --fit."""
    from .engine import DTYPE_BYTES
    from .training import OPTIMIZERS

    options = [
        click.option("--training", is_flag=True,
                     help="Cost one training step: backward MACs (input and weight "
                          "gradients), tensors kept for backward, gradients, optimizer state "
                          "and the training peak (docs/training.md)."),
        click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default=None,
                     help="With --training: the optimizer (state copies and update FLOPs; "
                          "default sgd)."),
        click.option("--master-weights", type=click.Choice(list(DTYPE_BYTES)), default=None,
                     help="With --training: mixed precision, a copy of the trainable weights "
                          "(and the optimizer state) in this dtype, e.g. --dtype bfloat16 "
                          "--master-weights float32."),
        click.option("--freeze", default=None, metavar="NAMES",
                     help="With --training: frozen layers and groups, comma-separated, and "
                          "until:NAME for every layer before NAME (added to the spec's "
                          "freeze:)."),
        click.option("--fit", default=None, metavar="SIZE",
                     help="With --training: the largest batch whose training peak fits in "
                          "SIZE (24GiB, 16GB)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def check_training_options(training: dict[str, Any]) -> bool:
    """Whether --training was given; the other training options without it are a usage
    error (they would be silently ignored)."""
    given = [f"--{k.replace('_', '-')}" for k in ("optimizer", "master_weights", "freeze", "fit")
             if training.get(k) is not None]
    if given and not training.get("training"):
        raise click.UsageError(f"{', '.join(given)} need{'s' if len(given) == 1 else ''} "
                               "--training")
    return bool(training.get("training"))


def training_table(spec: str, fmt: str, output: str | None, view: dict[str, Any],
                   training: dict[str, Any], *, input_shape: Any, batch: int, dtype: str,
                   convention: str, sets: tuple[str, ...], all_rows: bool = False) -> None:
    """Print or write the training report of SPEC as a table or JSON."""
    from .cli_common import emit, emit_lines, graph_from_options, output_width
    from .training import analyze_training, fit_batch, parse_freeze

    if fmt not in ("table", "json"):
        raise click.UsageError(f"--training writes a table or JSON, not {fmt}")
    unused = [f"--{k.replace('_', '-')}" for k in ("columns", "first", "last", "style")
              if view.get(k) is not None]
    if unused:
        raise click.UsageError(f"{', '.join(unused)} shape the inference table; --training "
                               "takes --depth, --exact and --quiet")
    budget = parse_size(training["fit"]) if training.get("fit") is not None else None
    freeze = parse_freeze(training["freeze"]) if training.get("freeze") else None
    graph = graph_from_options(spec, input_shape=input_shape, sets=sets)
    report = analyze_training(graph, batch=batch, dtype=dtype, convention=convention,
                              optimizer=training.get("optimizer") or "sgd",
                              master_weights=training.get("master_weights"), freeze=freeze)
    fit = None if budget is None else (training["fit"], fit_batch(report, budget))
    if fmt == "json":
        import json

        data = report.report.to_dict()
        data["training"] = report.to_dict()
        if fit is not None:
            data["training"]["fit"] = {"budget_bytes": budget, "batch": fit[1]}
        emit(json.dumps(data, indent=2) + "\n", output)
        return
    from .training_view import training_lines

    depth = view.get("depth")
    if depth == "full":
        depth = None
    width = None if view.get("wide") or output is not None else output_width()
    emit_lines(training_lines(report, width=width, exact=bool(view.get("exact")),
                              depth=None if depth is None else int(depth),
                              quiet=bool(view.get("quiet")), fit=fit,
                              max_rows=None if all_rows else 400), output)


def explain_training(graph: Any, results: list[Any], nodes: Any, fmt: str, freeze: str | None,
                     *, batch: int, dtype: str, convention: str, training: bool,
                     width: int | None = None) -> str:
    """``explain --training``: each layer's forward derivation, then its backward's."""
    import json

    from .training import analyze_training, explain_backward, parse_freeze

    if not training:
        raise click.UsageError("--freeze needs --training")
    tr = analyze_training(graph, batch=batch, dtype=dtype, convention=convention,
                          freeze=parse_freeze(freeze) if freeze else None)
    rows = {row.name: row for row in tr.layers}
    backward = [explain_backward(tr, graph, n.name) for n in nodes]
    if fmt == "json":
        data = [{**r.to_dict(), "training": rows[n.name].to_dict(), "backward": b}
                for r, n, b in zip(results, nodes, backward, strict=True)]
        return json.dumps(data if len(data) > 1 else data[0], indent=2,
                          ensure_ascii=False) + "\n"
    import textwrap

    from .terminal import explanation_lines

    parts = []
    for r, b in zip(results, backward, strict=True):
        if fmt == "markdown":
            parts.append(r.to_markdown() + "\n" + "\n".join(f"    {line}" for line in b) + "\n")
            continue
        lines = list(explanation_lines(r, width=width))
        for line in b:
            lead = " " * (len(line) - len(line.lstrip()))
            lines += textwrap.wrap(line, width, subsequent_indent=lead + "  ",
                                   break_on_hyphens=False) if width else [line]
        parts.append("".join(f"{line}\n" for line in lines))
    return "\n".join(parts)


def training_sweep(spec: str, batch: str | None, optimizer: str | None, dtype: str | None,
                   master_weights: str | None, freeze: str | None, convention: str,
                   fmt: str, output: str | None, exact: bool, width: int | None) -> None:
    """``archcalc sweep SPEC --training --batch 1,8,32 --optimizer sgd,adam``."""
    import json

    from . import to_graph
    from .cli_common import emit, emit_lines
    from .cli_compare import parse_values
    from .engine import DTYPE_BYTES
    from .training import OPTIMIZERS, parse_freeze, sweep_training
    from .training_view import sweep_lines

    if fmt not in ("table", "json"):
        raise click.UsageError(f"sweep --training writes a table or JSON, not {fmt}")
    sizes = parse_values(batch, "--batch") if batch else [1]
    if any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in sizes):
        raise click.BadParameter(f"{batch!r}: batch sizes are positive integers",
                                 param_hint="'--batch'")
    names = [o.strip() for o in (optimizer or "sgd").split(",") if o.strip()]
    bad = [o for o in names if o not in OPTIMIZERS]
    if bad or not names:
        raise click.BadParameter(f"{bad[0] if bad else optimizer!r}: choose among "
                                 + ", ".join(OPTIMIZERS), param_hint="'--optimizer'")
    if dtype is not None and dtype not in DTYPE_BYTES:
        raise click.BadParameter(f"{dtype!r}: one of " + ", ".join(DTYPE_BYTES)
                                 + " (a training sweep holds the dtype fixed)",
                                 param_hint="'--dtype'")
    result = sweep_training(to_graph(spec), [int(b) for b in sizes], names,
                            dtype=dtype or "float32", convention=convention,
                            master_weights=master_weights,
                            freeze=parse_freeze(freeze) if freeze else None)
    if fmt == "json":
        emit(json.dumps(result.to_dict(), indent=2) + "\n", output)
        return
    emit_lines(sweep_lines(result, width=width, exact=exact), output)
