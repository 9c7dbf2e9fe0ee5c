"""Command line: a thin click layer. Parses options, calls the library, renders, and is the one
error boundary: an :class:`ArchcalcError` prints its located message and exits 1; click usage
errors exit 2; anything else is a bug and exits 3 with a one-line message (set
``ARCHCALC_DEBUG=1`` for the traceback). Subcommands other than ``table`` live in their own
modules and are imported only when invoked, so ``archcalc table`` starts fast.
"""

from __future__ import annotations

import gc
import importlib
import os
from typing import Any

import click

from .cli_common import (
    analysis_options,
    emit,
    emit_report,
    format_option,
    output_option,
    report_from_options,
    spec_argument,
    view_options,
)
from .cli_training import check_training_options, training_options, training_table
from .errors import ArchcalcError

#: subcommand → "module:function", imported on first use
LAZY_COMMANDS: dict[str, str] = {
    "verify": "archcalc.cli_verify:verify",
    "compare": "archcalc.cli_compare:compare",
    "explain": "archcalc.cli_compare:explain",
    "sweep": "archcalc.cli_compare:sweep",
    "check": "archcalc.cli_check:check",
    "plot": "archcalc.cli_tools:plot",
    "draw": "archcalc.cli_draw:draw",
    "report": "archcalc.cli_draw:report",
    "list": "archcalc.cli_tools:list_specs",
    "show": "archcalc.cli_tools:show",
    "schema": "archcalc.cli_tools:schema",
    "export": "archcalc.cli_bridges:export",
    "import": "archcalc.cli_bridges:import_onnx",
}


class ArchcalcGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        available = [n for n, target in LAZY_COMMANDS.items() if _module_exists(target)]
        return sorted({*super().list_commands(ctx), *available})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in LAZY_COMMANDS:
            return command
        module_name, attr = LAZY_COMMANDS[cmd_name].split(":")
        if not _module_exists(LAZY_COMMANDS[cmd_name]):
            return None
        found = getattr(importlib.import_module(module_name), attr)
        assert isinstance(found, click.Command)
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArchcalcError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug: say so in one line, never a traceback by default
            if os.environ.get("ARCHCALC_DEBUG"):
                raise
            click.echo(
                f"internal error (a bug in archcalc, please report it): {type(exc).__name__}: "
                f"{exc}",
                err=True,
            )
            ctx.exit(3)


def _module_exists(target: str) -> bool:
    module = target.split(":")[0].rsplit(".", 1)[-1]
    here = os.path.dirname(__file__)
    return os.path.exists(os.path.join(here, module + ".py"))


@click.group(cls=ArchcalcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archcalc", prog_name="archcalc")
def cli() -> None:
    """What does this CNN architecture cost? Shapes, params, MACs, FLOPs, memory, receptive
    field — from a YAML spec, without building a model.

    Exit codes: 0 success, 1 a problem in the spec (located message), 2 command-line usage,
    3 internal error, 130 interrupted.
    """


@cli.command()
@spec_argument
@analysis_options
@format_option(("table", "json", "csv", "markdown", "latex", "html", "dot"))
@output_option
@view_options
@click.option("--all-rows", is_flag=True,
              help="Every row, however many (tables of more than 400 rows are collapsed to "
                   "a depth that fits, or cut in the middle, with a footer saying so).")
@training_options
def table(spec: str, fmt: str | None, output: str | None, all_rows: bool,
          view: dict[str, Any], training: bool, optimizer: str | None,
          master_weights: str | None, freeze: str | None, fit: str | None,
          **options: Any) -> None:
    """Per-layer cost table of SPEC (a bundled name such as alexnet, or a YAML file).
    `--format dot` writes the architecture diagram as Graphviz DOT text (see `draw`).

    \b
    archcalc table resnet50 --depth 1           # stem, layer1 ... layer4, head
    archcalc table vgg16 --from conv1_1 --to pool3
    archcalc table resnet50 --columns +kernel,+macs% --exact
    archcalc table resnet50 --training --optimizer adam --freeze until:layer4 --fit 24GiB
    """
    fmt = fmt or _format_from_path(output) or "table"
    train = {"training": training, "optimizer": optimizer, "master_weights": master_weights,
             "freeze": freeze, "fit": fit}
    if check_training_options(train):
        training_table(spec, fmt, output, view, train, all_rows=all_rows, **options)
        return
    if fmt == "dot":  # the diagram needs the graph's layer geometry, not only the report
        from .cli_draw import dot_text

        depth = view.get("depth")  # `--depth N` collapses the diagram as it does the table
        emit(dot_text(spec, depth=None if depth == "full" else depth, **options), output)
        return
    report = report_from_options(spec, **options)
    emit_report(report, fmt, output, spec=spec, all_rows=all_rows, **view)


def _format_from_path(path: str | None) -> str | None:
    """The format an ``-o`` file's extension asks for; an extension that names none is a
    usage error (it used to write the text table under any name)."""
    if path is None:
        return None
    if path.lower().endswith(".txt"):
        return "table"
    if path.lower().endswith((".dot", ".gv")):
        return "dot"
    from .export import EXTENSIONS, format_from_path

    found = format_from_path(path)
    from .outfile import is_stream

    if found is None and not is_stream(path):  # -, /dev/stdout, a FIFO, /dev/null: the table
        raise click.UsageError(
            f"cannot tell the format of {path!r} from its extension; use "
            + ", ".join([".txt", *EXTENSIONS]) + ", or give --format")
    return found


def main() -> None:
    # One command per process: what it builds stays alive until exit, so the cyclic
    # collector's passes (each one traverses every object: about a second per pass over a
    # 100k-layer spec, graph and report) would reclaim nothing. Reference counting still frees
    # everything acyclic. The library itself leaves the collector to its caller.
    gc.disable()
    cli(prog_name="archcalc")


if __name__ == "__main__":  # pragma: no cover
    main()
