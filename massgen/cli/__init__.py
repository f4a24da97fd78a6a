"""The ``massgen`` command: flags in, typed options and exit codes out. Nothing outside this
package imports it.

``massgen.cli.main`` is the Typer app's module; this package exports its ``app`` and its
console-script entry point ``main`` (so ``from massgen.cli import main`` keeps working, and
the attribute ``massgen.cli.main`` is that function: import the module's other names with
``from massgen.cli.main import ...``).
"""

from massgen.cli.main import app, main

__all__ = ["app", "main"]
