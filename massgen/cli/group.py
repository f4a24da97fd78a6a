"""The ``massgen`` command group: ``massgen "question"`` and ``massgen COMMAND`` side by
side, usage errors as one line (exit 1), ``--continue [ID]``."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from massgen.cli.common import safe
from massgen.exitcodes import ExitCode


class MainGroup(TyperGroup):
    """A group whose first positional word is a subcommand if one has that name, and
    otherwise the start of the question (``massgen "question"``)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's main loop, but usage errors exit 1 (click's 2 means "the run failed"
        here) with one ``massgen: error:`` line, and Ctrl+C exits 130."""
        import importlib

        # Typer's own copy of click (or click itself in older Typers), whose errors it raises
        click = importlib.import_module(f"{typer.core._click.__name__}.exceptions")

        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            message = exc.format_message().replace("Value error, ", "")  # Typer's coercion
            sys.stderr.write(f"massgen: error: {safe(message)}{hint}\n")
            sys.exit(ExitCode.USAGE)
        except click.ClickException as exc:
            sys.stderr.write(f"massgen: error: {safe(exc.format_message())}\n")
            sys.exit(ExitCode.USAGE)
        except (click.Abort, KeyboardInterrupt):
            sys.stderr.write("massgen: interrupted\n")
            sys.exit(ExitCode.INTERRUPTED)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = self._continue_session(args)
        first = self._first_positional(ctx, args)
        if first is not None and first in self.commands:
            return super().parse_args(ctx, args)
        ctx.allow_interspersed_args = True  # options may follow the question
        rest = typer.core._click.Command.parse_args(self, ctx, args)
        ctx.args = rest
        return rest

    @staticmethod
    def _continue_session(args: list[str]) -> list[str]:
        """``--continue`` and ``--resume`` take an optional session: ``--continue ID`` (or
        ``=ID``) when the next word looks like one, else the next word starts the question."""
        if not any(a.startswith(("--continue", "--resume")) for a in args):
            return args
        from massgen.sessions.store import REF_PATTERN

        out, i = [], 0
        while i < len(args):
            arg = args[i]
            flag, _, value = arg.partition("=")
            if flag in ("--continue", "--resume") and value:
                out += [flag, f"{flag}-session={value}"]
            elif (
                arg in ("--continue", "--resume")
                and i + 1 < len(args)
                and REF_PATTERN.match(args[i + 1])
            ):
                out += [arg, f"{arg}-session={args[i + 1]}"]
                i += 1
            else:
                out.append(arg)
            i += 1
        return out

    def _first_positional(self, ctx: Any, args: list[str]) -> str | None:
        takes_value = {
            opt
            for param in self.get_params(ctx)
            if isinstance(param, typer.core.TyperOption) and not param.is_flag
            for opt in param.opts
        }
        skip = False
        for arg in args:
            if skip:
                skip = False
            elif arg == "--":
                return None
            elif arg.startswith("-"):
                skip = arg in takes_value
            else:
                return arg
        return None
