"""The ``massgen`` command: flags in, typed options and exit codes out (docs/architecture.md,
"CLI"). ``massgen.cli.main`` holds the Typer app; ``main`` is the console-script entry point.
Nothing outside this package imports it."""

from massgen.cli.main import app, main

__all__ = ["app", "main"]
