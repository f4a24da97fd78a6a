"""``massgen logs``: list, show, replay and prune recorded sessions.

Imports only Typer at load time; the session store, the printers and Textual are imported by
the command that needs them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from massgen.terminal import json_line, visible

LogDir = Annotated[
    str | None,
    typer.Option(
        "--log-dir", help="Where sessions live (default: the user data dir; env MASSGEN_LOG_DIR)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]

logs_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Recorded sessions: list them (the default), show, replay or prune.",
)


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"massgen: error: {message}\n")
    return typer.Exit(1)


def _cost(value: Any) -> str:
    return f"${value:.4f}" if isinstance(value, int | float) else "?"


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _short(text: Any, width: int) -> str:
    """One line of at most ``width`` characters, its control characters shown, not run."""
    text = visible(" ".join(str("" if text is None else text).split()), single_line=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(summary: dict[str, Any]) -> str:
    """The session's start in local time, ``2026-11-21 14:25``."""
    from massgen.sessions.listing import started

    return started(summary)


@logs_app.callback()
def list_command(
    ctx: typer.Context,
    log_dir: LogDir = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many to list.")] = 20,
    as_json: AsJson = False,
) -> None:
    """List recent sessions, newest first: time, id, status, winner, cost, question."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"log_dir": log_dir}
        return
    from massgen.sessions import store

    root = store.sessions_root(log_dir)
    summaries = [_summary_or_reason(p) for p in store.session_dirs(root)[: max(0, limit)]]
    if as_json:
        print(json_line(summaries, indent=2))
        raise typer.Exit(0)
    if not summaries:
        print(f"No sessions yet in {visible(root)}.")
        raise typer.Exit(0)
    print(f"{'TIME':16}  {'ID':22}  {'STATUS':11}  {'WINNER':12}  {'COST':>9}  QUESTION")
    for s in summaries:
        if s.get("unreadable"):
            print(
                f"{'?':16}  {s['id']:22}  {'unreadable':11}  {'-':12}  {'?':>9}  "
                f"({_short(s['unreadable'], 60)})"
            )
            continue
        parts = len(s.get("parts") or [])
        question = _short(s.get("question"), 60) + (f" (+{parts - 1} more)" if parts > 1 else "")
        print(
            f"{_when(s):16}  {_short(s['id'], 22):22}  {_short(s.get('status', '?'), 11):11}  "
            f"{_short(s.get('winner') or '-', 12):12}  {_cost(s.get('cost_usd')):>9}  {question}"
        )
    raise typer.Exit(0)


def _summary_or_reason(path: Any) -> dict[str, Any]:
    from massgen.sessions.listing import summary_or_reason

    return summary_or_reason(path)


def _find(ctx: typer.Context, ref: str, log_dir: str | None):
    from massgen.sessions import store

    root = store.sessions_root(log_dir or (ctx.obj or {}).get("log_dir"))
    try:
        return store.find_session(root, ref)
    except store.SessionNotFoundError as exc:
        raise _fail(str(exc)) from None


@logs_app.command("show")
def show_command(
    ctx: typer.Context,
    session: Annotated[str, typer.Argument(help="A session id (or a prefix), or latest.")] = (
        "latest"
    ),
    log_dir: LogDir = None,
    as_json: AsJson = False,
) -> None:
    """Show a session's summary and final answer."""
    from massgen.sessions import store

    path = _find(ctx, session, log_dir)
    summary = _summary_or_reason(path)
    final = _read(path / store.FINAL)
    if as_json:
        print(json_line({**summary, "path": str(path), "final_answer": final}, indent=2))
        raise typer.Exit(0)
    if summary.get("unreadable"):
        print(f"Session  {path.name}  ·  unreadable: {_short(summary['unreadable'], 200)}")
        print(f"Dir      {visible(path)}")
        raise typer.Exit(0)
    agents = ", ".join(
        f"{a.get('id')} ({a.get('model')})"
        for a in summary.get("agents") or []
        if isinstance(a, dict)
    )
    strategy = _short(summary.get("strategy") or "-", 20)
    lines = [
        f"Session  {path.name}  ·  {_short(summary.get('status'), 20)}  ·  {_when(summary)}",
        f"Dir      {visible(path)}",
        f"Question {_short(summary.get('question') or '-', 500)}",
        f"Agents   {_short(agents or '-', 500)}  (strategy {strategy})",
        f"Total    {_int(summary.get('total_tokens')):,} tokens"
        + (
            f" ({_int(summary.get('cached_tokens')):,} prompt tokens cached)"
            if _int(summary.get("cached_tokens"))
            else ""
        )
        + f" · {_cost(summary.get('cost_usd'))}"
        f" · {_seconds(summary.get('duration_s'))}"
        + (
            f" · exit status {_short(summary['exit_status'], 5)}"
            if summary.get("exit_status") is not None
            else ""
        ),
    ]
    if summary.get("note"):
        lines.append(f"Note     {_short(summary['note'], 300)}")
    parts = [p for p in summary.get("parts") or [] if isinstance(p, dict)]
    for number, part in enumerate(parts, 1):
        tally = part.get("tally")
        if not isinstance(tally, dict):
            tally = {}
        tally_text = ", ".join(f"{k}: {v}" for k, v in tally.items()) or "-"
        duration = part.get("duration_s")
        lines.append(
            f"Part {number}   {_short(part.get('status'), 20)}"
            + (f" in {_seconds(duration)}" if duration is not None else "")
            + f" · {_int(part.get('answers'))} answer(s), {_int(part.get('votes'))} vote(s)"
            + f" · winner {_short(part.get('winner') or '-', 40)} (votes {_short(tally_text, 200)})"
            + (f" · {_short(part.get('question'), 60)}" if len(parts) > 1 else "")
        )
        if _int(part.get("rounds")):
            agreement = part.get("agreement")
            lines.append(
                f"         {_int(part.get('rounds'))} round(s)"
                + (
                    f" · agreement {agreement:.0%}"
                    if isinstance(agreement, int | float) and not isinstance(agreement, bool)
                    else ""
                )
            )
        if part.get("budget"):
            lines.append(f"         {_short(part['budget'], 300)}")
        if part.get("error"):
            lines.append(f"         {_short(part['error'], 300)}")
    lines += _artifact_lines(summary, path)
    print("\n".join(lines))
    print("\nFinal answer:\n" + (visible(final.rstrip("\n")) if final else "(none)"))
    raise typer.Exit(0)


def _artifact_lines(summary: dict[str, Any], path: Path) -> list[str]:
    """One line per generated medium: its file in the session, type, size, who made it."""
    lines = []
    for item in summary.get("artifacts") or []:
        if not isinstance(item, dict):
            continue
        where = visible(str(path / "artifacts" / str(item.get("name"))))
        lines.append(
            f"Artifact {where}  ·  {_short(item.get('mime'), 40)}, {_int(item.get('size')):,} "
            f"bytes  ·  {_short(item.get('agent'), 40)} ({_short(item.get('tool'), 40)})"
        )
    return lines


def _seconds(value: Any) -> str:
    return f"{value:.1f}s" if isinstance(value, int | float) else "?"


def _read(path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


@logs_app.command("replay")
def replay_command(
    ctx: typer.Context,
    session: Annotated[str, typer.Argument(help="A session id (or a prefix), or latest.")] = (
        "latest"
    ),
    speed: Annotated[
        float,
        typer.Option("--speed", min=0, help="1 = as recorded, 10 = ten times faster, 0 = at once."),
    ] = 1.0,
    ui: Annotated[
        str | None,
        typer.Option("--ui", help="textual (default on a terminal), plain or json."),
    ] = None,
    log_dir: LogDir = None,
) -> None:
    """Play a session back: in the terminal app, or as plain/JSON output without a TTY."""
    from massgen.sessions import replay, store

    path = _find(ctx, session, log_dir)
    events, bad = store.read_events(path)
    parts = replay.split_parts(events)
    if not parts:
        raise _fail(f"session {path.name} has no events to replay")
    if bad:
        sys.stderr.write(f"massgen: skipped {bad} unreadable line(s) in {path.name}\n")
    if ui not in (None, "textual", "plain", "json"):
        raise _fail(f"--ui must be textual, plain or json, not {ui!r}")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if (ui or "textual") == "textual" and interactive:
        from massgen.tui.app import MassGenApp

        app = MassGenApp(replay=parts, replay_speed=speed)
        app.run()
        if app.crash is not None:
            error = f"{type(app.crash).__name__}: {app.crash}"
            sys.stderr.write(f"massgen: error: {_short(error, 300)}\n")
            raise typer.Exit(2)
        raise typer.Exit(0)
    import asyncio

    asyncio.run(_replay_plain(parts, speed, as_json=ui == "json"))
    raise typer.Exit(0)


async def _replay_plain(parts: list[list[dict[str, Any]]], speed: float, *, as_json: bool):
    import asyncio

    from massgen.events import EventBus
    from massgen.sessions.replay import play

    if as_json:
        from massgen.output.json_lines import print_events as printer
    else:
        from massgen.output.plain import print_progress as printer
    for events in parts:
        bus = EventBus()
        printing = asyncio.create_task(printer(bus.subscribe()))
        await play(events, bus, speed)
        await printing
        final = next((e.get("final_answer") for e in events if e["type"] == "run_finished"), None)
        if isinstance(final, str) and final and not as_json:
            sys.stdout.write(visible(final.rstrip("\n")) + "\n")
            sys.stdout.flush()


@logs_app.command("restore")
def restore_command(
    ctx: typer.Context,
    session: Annotated[str, typer.Argument(help="A session id (or a prefix), or latest.")] = (
        "latest"
    ),
    force: Annotated[
        bool,
        typer.Option("--force", help="Put the originals back over files changed since the run."),
    ] = False,
    log_dir: LogDir = None,
) -> None:
    """Undo the file changes a session's final presenter made to your context paths (a file
    changed since the run is left alone, and nothing is undone, unless --force)."""
    from massgen.workspaces.manager import RestoreRefused, restore

    path = _find(ctx, session, log_dir)
    try:
        done = restore(path, force=force)
    except RestoreRefused as refused:
        raise _fail(_refusal(refused, path.name)) from None
    for line in done:
        print(visible(line))
    print(
        f"{len(done)} file(s) put back from {path.name}."
        if done
        else f"Nothing to undo in {path.name}."
    )
    raise typer.Exit(0)


def _refusal(refused: Any, session: str) -> str:
    """One line: why nothing was restored, and how to restore anyway."""
    force = f"'massgen logs restore {visible(session, single_line=True)} --force'"
    if refused.unrecorded:
        return (
            "not restoring: the run did not record what it left in your files (it was stopped "
            "before it finished, or an older massgen ran it), so later edits cannot be told "
            f"apart; {force} puts the originals back anyway"
        )
    shown = ", ".join(visible(p, single_line=True) for p in refused.changed[:10])
    more = f" and {len(refused.changed) - 10} more" if len(refused.changed) > 10 else ""
    return (
        f"not restoring: {len(refused.changed)} file(s) changed since the run: {shown}{more}; "
        f"{force} puts the originals back over those changes"
    )


@logs_app.command("prune")
def prune_command(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age, e.g. 30d, 12h, 2w.")
    ] = "30d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted.")] = False,
    log_dir: LogDir = None,
) -> None:
    """Delete sessions last written longer ago than --older-than (running ones are kept)."""
    from massgen.errors import ConfigurationError
    from massgen.sessions import store

    try:
        age = store.parse_age(older_than)
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    root = store.sessions_root(log_dir or (ctx.obj or {}).get("log_dir"))
    doomed = store.prune(root, age, dry_run=dry_run)
    verb = "Would delete" if dry_run else "Deleted"
    for path in doomed:
        print(f"{verb} {path.name}")
    print(f"{verb} {len(doomed)} session(s) older than {older_than} in {root}.")
    raise typer.Exit(0)
