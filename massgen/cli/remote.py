"""``massgen --server URL "question"`` and ``massgen attach TASK_ID``: a run on a ``massgen
serve``, followed in the terminal app, as plain progress lines or as JSON lines, from the
server's events (:class:`massgen.remote.RemoteRun`); its exit code.

In the app, ``q`` leaves the task running on the server (``massgen attach`` reopens it) and
Ctrl+C cancels it, as it cancels a local run; in plain and JSON output, Ctrl+C leaves it
running (``massgen attach TASK_ID --cancel`` cancels it)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from massgen.cli.common import UI, fail, safe
from massgen.exitcodes import ExitCode, for_status

if TYPE_CHECKING:
    from massgen.remote import RemoteResult, RemoteRun, Server

#: Local-run options that mean nothing to a server's run (its config is the authority).
LOCAL_ONLY = (
    "--config",
    "--model",
    "--models",
    "--backend",
    "--context",
    "--image",
    "--continue",
    "--resume",
    "--web",
)


def ask_server(
    server: Server, question: str, ui: UI | None, timeout: float | None, used: list[str]
) -> int:
    """``massgen --server URL "question"``: ``question`` as a task on ``server``, followed;
    ``used`` are the local-run options given with it (refused: the server runs its team)."""
    from massgen.errors import ConfigurationError

    if used:
        raise ConfigurationError(
            f"{', '.join(used)}: not with --server (the server runs its own team and config)"
        )
    mode = _mode(ui)
    if not question and mode is not UI.textual:
        raise ConfigurationError('no question given: massgen --server URL "your question"')
    return _follow(server, mode, question=question or None, timeout=timeout)


def _mode(ui: UI | None) -> UI:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    mode = ui or UI.textual
    return UI.plain if mode is UI.textual and not interactive else mode


def _follow(
    server: Server,
    mode: UI,
    *,
    question: str | None = None,
    task_id: str | None = None,
    timeout: float | None = None,
) -> int:
    from massgen.remote import RemoteFailure

    try:
        if mode is UI.textual:
            return _in_app(server, question, task_id, timeout)
        import asyncio

        return asyncio.run(_printed(server, mode, question, task_id, timeout))
    except RemoteFailure as exc:
        raise fail(exc.message, exc.code) from None


def _in_app(
    server: Server, question: str | None, task_id: str | None, timeout: float | None
) -> int:
    from massgen.tui.app import MassGenApp, tune_gc

    tune_gc()
    app = MassGenApp(question=question, server=server, attach=task_id, task_timeout=timeout)
    app.run()
    if app.crash is not None:
        raise app.crash
    final = next((r.final_answer for r in reversed(app.results) if r.final_answer), None)
    if final:  # leave the last answer in the terminal's scrollback
        if sys.stdout.isatty():
            from massgen.terminal import visible

            final = visible(final)
        sys.stdout.write(final.rstrip("\n") + "\n")
        sys.stdout.flush()
    if app.remote_failure is not None:  # a RemoteFailure: one line and its code
        raise app.remote_failure
    if app.detached_from is not None:  # the run goes on, but this command did not see it end
        _left(server, app.detached_from)
        return ExitCode.INTERRUPTED
    return app.exit_code()


def _left(server: Server, task_id: str) -> None:
    sys.stderr.write(
        f"massgen: left task {task_id} running on {server.url}: massgen attach {task_id} "
        f"reopens it, massgen attach {task_id} --cancel cancels it\n"
    )


async def _printed(
    server: Server, mode: UI, question: str | None, task_id: str | None, seconds: float | None
) -> int:
    """The task followed with its progress printed as a local run's is."""
    import asyncio

    if mode is UI.json:
        from massgen.output.json_lines import print_events as printer
    else:
        from massgen.output.plain import print_progress as printer

    def told(new_id: str) -> None:
        sys.stderr.write(f"massgen: task {new_id} on {server.url}\n")

    run = server.follow(question, task_id=task_id, timeout=seconds, on_task=told)
    printing = asyncio.create_task(printer(run.subscription))
    try:
        result = await run.result()
    except asyncio.CancelledError:  # Ctrl+C: leave the task to the server
        await _stopped(run, printing)
        if run.task_id is not None:
            _left(server, run.task_id)
        return ExitCode.INTERRUPTED
    await printing
    return _report(result, mode)


async def _stopped(run: RemoteRun, printing: object) -> None:
    import asyncio

    await run.detach()
    if isinstance(printing, asyncio.Task):
        printing.cancel()


def _report(result: RemoteResult, mode: UI) -> ExitCode:
    if mode is not UI.json and result.final_answer is not None:
        answer = result.final_answer.rstrip("\n")
        if sys.stdout.isatty():
            from massgen.terminal import visible

            answer = visible(answer)
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    if result.status != "ok" and result.error:
        sys.stderr.write(f"massgen: {safe(result.error)}\n")
    return for_status(result.status)


def attach_command(
    task_id: Annotated[str, typer.Argument(help="The task's id (task_...).")],
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="The massgen serve the task runs on (default: $MASSGEN_SERVER_URL, else "
            "http://localhost:4000).",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="The server's API key (default: $MASSGEN_API_KEY)."),
    ] = None,
    ui: Annotated[
        UI | None,
        typer.Option("--ui", help="textual (default on a terminal), plain or json, as for a run."),
    ] = None,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Cancel the task on the server instead.")
    ] = False,
) -> None:
    """Reopen a task of a massgen serve (running or finished): its events from the start,
    then live. In the app, q leaves it running and Ctrl+C cancels it."""
    from massgen.errors import ConfigurationError
    from massgen.remote import LOCAL_SERVER, RemoteFailure, Server

    try:
        target = Server.named(server, api_key, fallback=LOCAL_SERVER)
        if cancel:
            raise typer.Exit(_cancel(target, task_id))
        code = _follow(target, _mode(ui), task_id=task_id)
    except ConfigurationError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    except RemoteFailure as exc:
        raise fail(exc.message, exc.code) from None
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    raise typer.Exit(code)


def _cancel(server: Server, task_id: str) -> int:
    """``massgen attach TASK_ID --cancel``."""
    import asyncio

    from massgen.remote import explain

    async def cancel() -> str:
        async with server.client() as client:
            try:
                return (await client.tasks.cancel(task_id)).status
            except Exception as exc:
                raise explain(exc, server, task_id) from None

    status = asyncio.run(cancel())
    sys.stderr.write(f"massgen: task {task_id} on {server.url}: {status}\n")
    return ExitCode.OK
