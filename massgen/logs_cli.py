"""``massgen logs``: list, show, replay and prune recorded sessions.

Imports only Typer at load time; the session store, the printers and Textual are imported by
the command that needs them.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

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
    return "?" if value is None else f"${value:.4f}"


def _short(text: Any, width: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(summary: dict[str, Any]) -> str:
    """The session's start in local time, ``2026-11-21 14:25``."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(summary["created"]).astimezone().strftime("%Y-%m-%d %H:%M")
    except (KeyError, TypeError, ValueError):
        return "?"


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
    summaries = [store.load_summary(p) for p in store.session_dirs(root)[: max(0, limit)]]
    if as_json:
        print(json.dumps(summaries, indent=2, ensure_ascii=False))
        raise typer.Exit(0)
    if not summaries:
        print(f"No sessions yet in {root}.")
        raise typer.Exit(0)
    print(f"{'TIME':16}  {'ID':22}  {'STATUS':11}  {'WINNER':12}  {'COST':>9}  QUESTION")
    for s in summaries:
        parts = len(s.get("parts") or [])
        question = _short(s.get("question"), 60) + (f" (+{parts - 1} more)" if parts > 1 else "")
        print(
            f"{_when(s):16}  {s['id']:22}  {s.get('status', '?'):11}  "
            f"{_short(s.get('winner') or '-', 12):12}  {_cost(s.get('cost_usd')):>9}  {question}"
        )
    raise typer.Exit(0)


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
    summary = store.load_summary(path)
    final = _read(path / store.FINAL)
    if as_json:
        print(json.dumps({**summary, "path": str(path), "final_answer": final}, indent=2))
        raise typer.Exit(0)
    agents = ", ".join(f"{a.get('id')} ({a.get('model')})" for a in summary.get("agents") or [])
    lines = [
        f"Session  {summary['id']}  ·  {summary.get('status')}  ·  {_when(summary)}",
        f"Dir      {path}",
        f"Question {summary.get('question') or '-'}",
        f"Agents   {agents or '-'}  (strategy {summary.get('strategy') or '-'})",
        f"Total    {summary.get('total_tokens', 0):,} tokens · {_cost(summary.get('cost_usd'))}"
        f" · {summary.get('duration_s') or 0:.1f}s"
        + (
            f" · exit status {summary['exit_status']}"
            if summary.get("exit_status") is not None
            else ""
        ),
    ]
    if summary.get("note"):
        lines.append(f"Note     {summary['note']}")
    for part in summary.get("parts") or []:
        tally = ", ".join(f"{k}: {v}" for k, v in (part.get("tally") or {}).items()) or "-"
        duration = part.get("duration_s")
        lines.append(
            f"Part {part['part']}   {part.get('status')}"
            + (f" in {duration:.1f}s" if duration is not None else "")
            + f" · {part.get('answers', 0)} answer(s), {part.get('votes', 0)} vote(s)"
            + f" · winner {part.get('winner') or '-'} (votes {tally})"
            + (f" · {_short(part['question'], 60)}" if len(summary["parts"]) > 1 else "")
        )
        if part.get("error"):
            lines.append(f"         {part['error']}")
    print("\n".join(lines))
    print("\nFinal answer:\n" + (final.rstrip("\n") if final else "(none)"))
    raise typer.Exit(0)


def _read(path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
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

        MassGenApp([], replay=parts, replay_speed=speed).run()
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
        if final and not as_json:
            sys.stdout.write(final.rstrip("\n") + "\n")
            sys.stdout.flush()


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
