"""The ``ivr`` command: one module per group of commands, gathered here."""

from __future__ import annotations

import typer

from . import bench, flows, lab, prompts, serving, speech, tracking

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="34 00 IVR server and tools.")
app.add_typer(serving.commands)
app.add_typer(tracking.commands)
app.add_typer(speech.commands)
app.add_typer(lab.commands)
app.add_typer(prompts.app, name="prompts")
app.add_typer(flows.app, name="flows")
app.add_typer(flows.rules_app, name="rules")
app.add_typer(speech.model_app, name="model")
app.add_typer(bench.app, name="bench")


def main() -> None:
    app()
