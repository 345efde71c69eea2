"""The `harness` command. Exit codes: 0 ok, 1 gate failed, 2 bad input or an unusable environment
(read-only or full disk, a folder where a file is expected: one line naming the path and the fix),
3 internal error, 130 interrupted.

Every command is registered here, at import, in the order `harness --help` lists them: one module
per command group (`*_cmd.py`) defines plain functions and sub-apps, and the bottom of this file
attaches them to `app`. So `harness.cli.app` is complete without calling main() (tests, typer's
CliRunner, docs generators), and no module registers itself as a side effect of being imported.

Importing harness.cli stays cheap: command modules import only typer at the top; numpy, pydantic,
yaml, rich and the rest load inside the command that needs them.
"""

from __future__ import annotations

import errno
import sys
import traceback
from typing import Annotated

import typer

# The command modules import nothing from this package's __init__, so importing them here is no cycle.
from harness.cli import (
    cache_cmd,
    clicks_cmd,
    compare_cmd,
    eval_cmd,
    export_cmd,
    gate_cmd,
    info_cmd,
    report_cmd,
    run_cmd,
    track_cmd,
)
from harness.errors import HarnessError

EXIT_OK, EXIT_GATE, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# OSErrors that say the environment is unusable (permissions, space, a path of the wrong kind),
# not that harness has a bug: any that a command did not turn into a HarnessError itself.
ENVIRONMENT_ERRNOS = {
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EISDIR,
    errno.ENOTDIR,
    errno.ENAMETOOLONG,
}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Offline IR evaluation: run experiment specs, score runs as trec_eval does, report and gate.",
)


def _print_version(value: bool) -> None:
    if value:
        from harness import __version__

        typer.echo(f"harness {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    from harness.threads import quiet_thread_waits

    quiet_thread_waits()
    try:
        # Standalone mode: usage errors print themselves and raise SystemExit(2).
        app(args=argv, prog_name="harness")
    except SystemExit as exc:
        code = exc.code
        if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C inside a command into a silent exit 130
            _say_interrupted()
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_INPUT)
    except HarnessError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_INPUT
    except KeyboardInterrupt:
        _say_interrupted()
        return EXIT_INTERRUPTED
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
            where = f"{exc.filename}: " if exc.filename else ""
            fix = "check the path, its permissions and free space"
            typer.echo(f"error: {where}{exc.strerror or exc} ({fix})", err=True)
            return EXIT_INPUT
        traceback.print_exc()
        typer.echo("internal error: this is a bug in harness; please report it with the traceback above", err=True)
        return EXIT_INTERNAL
    return EXIT_OK


def _say_interrupted() -> None:
    typer.echo("interrupted; finished cells are kept, re-run to resume", err=True)


def entry() -> None:
    sys.exit(main())


# Registration, in the order `harness --help` lists the commands.
app.command("run")(run_cmd.run)
app.command("report")(report_cmd.report)
app.command("compare")(compare_cmd.compare_cmd)
app.command("export")(export_cmd.export_cmd)
app.command("track")(track_cmd.track_cmd)
app.add_typer(gate_cmd.snapshot_app, name="snapshot")
app.command("gate")(gate_cmd.gate_cmd)
app.command("eval")(eval_cmd.eval_cmd)
app.command("datasets")(info_cmd.datasets)
app.command("systems")(info_cmd.systems)
app.add_typer(cache_cmd.cache_app, name="cache")
app.add_typer(clicks_cmd.clicks_app, name="clicks")
