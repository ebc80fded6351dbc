"""The ``ivr`` command: one module per group of commands, gathered here."""

from __future__ import annotations

import sys

import click
import typer

from . import bench, flows, lab, notices, prompts, serving, speech, tracking, versions

__all__ = ["app", "main"]

# No rich tracebacks: a command says what went wrong in one line (an unexpected failure still
# prints Python's plain traceback). Options carry a metavar (HOST:PORT, FILE, N) for --help.
app = typer.Typer(add_completion=False, no_args_is_help=True, help="34 00 IVR server and tools.",
                  pretty_exceptions_enable=False)
app.add_typer(serving.commands)
app.add_typer(tracking.commands)
app.add_typer(speech.commands)
app.add_typer(lab.commands)
app.add_typer(prompts.app, name="prompts")
app.add_typer(flows.app, name="flows")
app.add_typer(flows.rules_app, name="rules")
app.add_typer(speech.model_app, name="model")
app.add_typer(bench.app, name="bench")
app.add_typer(notices.app, name="notice")
# (versions.py adds publish, versions, show, diff and rollback to ``ivr flows``.)
app.add_typer(versions.audit_app, name="audit")
app.add_typer(versions.users_app, name="users")


def main(argv: list[str] | None = None) -> int:
    """Run ``ivr``; a bad argument is one line on stderr (exit status 2), never a traceback."""
    try:
        code = typer.main.get_command(app).main(args=argv, prog_name="ivr", standalone_mode=False)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "ivr"
        print(f"{where}: {exc.format_message().rstrip('.')} (see {where} --help)", file=sys.stderr)
        return 2
    except click.ClickException as exc:
        print(f"ivr: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        print("ivr: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # A file or address the command could not use (the commands handle the ones they expect).
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"ivr: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
