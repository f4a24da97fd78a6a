"""``massgen eval``: compare strategies on a dataset (flags in; the work is
:mod:`massgen.eval`)."""

from __future__ import annotations

from typing import Annotated

import typer

from massgen.cli.common import fail, team_for
from massgen.exitcodes import ExitCode


def eval_command(
    data: Annotated[
        str | None,
        typer.Argument(
            help='A JSONL file: one {"question", "answer", "choices"?, "scorer"?} per line.'
        ),
    ] = None,
    builtin: Annotated[
        str | None,
        typer.Option(
            "--builtin",
            help="A built-in set instead of a file: arithmetic, word_problems (2 to 6 steps), "
            "logic (multiple choice, 3 to 6 people ordered).",
        ),
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="The team (as for a run).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="One agent on MODEL.")] = None,
    models: Annotated[
        str | None, typer.Option("--models", help="One agent per model: A,B,C.")
    ] = None,
    strategies: Annotated[
        str,
        typer.Option(
            "--strategies", help="Comma-separated: single, vote, debate, judge, self_consistency."
        ),
    ] = "single,vote,debate,judge,self_consistency",
    limit: Annotated[int | None, typer.Option("--limit", help="The first N items only.")] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Items run at once (default 4).")
    ] = 4,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            help="self_consistency's samples (default: the number of agents); each its own "
            "seed (the agent's seed, else 0, then +1, ...) where the provider takes one, else "
            "a nonce line.",
        ),
    ] = 0,
    size: Annotated[int, typer.Option("--size", help="Items of a built-in set (default 20).")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="A built-in set's seed (default 0).")] = 0,
    json_out: Annotated[str | None, typer.Option("--json", help="Write the report here.")] = None,
    csv_out: Annotated[
        str | None,
        typer.Option(
            "--csv",
            help="Write one row per item and strategy here, and every figure per strategy "
            "beside it (NAME.summary.csv).",
        ),
    ] = None,
    plot_out: Annotated[
        str | None,
        typer.Option("--plot", help="Draw accuracy against cost here (PNG; the 'eval' extra)."),
    ] = None,
    cache_dir: Annotated[
        str | None,
        typer.Option("--cache-dir", help="Where results are kept (default: the user cache)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Keep no results: nothing to resume.")
    ] = False,
    matched: Annotated[
        bool,
        typer.Option(
            "--matched/--no-matched",
            help="Also run the matched-compute baseline: self-consistency of the best member "
            "with as many samples as match each strategy's tokens (more calls).",
        ),
    ] = True,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Compare strategies on a dataset: accuracy with a 95% interval, the oracle (some agent
    right) and selection gap, tokens, cost and latency per strategy; each strategy against
    single and against self-consistency of the best member at matched tokens (McNemar p), with
    a one-line verdict.

    Scoring: whole numbers compare exactly (1234568 is not 1234567); other numbers to a
    relative 1e-6.
    """
    from massgen.errors import ConfigurationError

    try:
        from massgen.config.env import load_env_files
        from massgen.eval.main import Options, run

        load_env_files()
        team, source = team_for(config, model, models)
        options = Options(
            data=data,
            builtin=builtin,
            strategies=strategies,
            limit=limit,
            concurrency=concurrency,
            samples=samples,
            size=size,
            seed=seed,
            json_out=json_out,
            csv_out=csv_out,
            plot_out=plot_out,
            cache_dir=cache_dir,
            no_cache=no_cache,
            matched=matched,
        )
        code = run(team, source, options)
    except ConfigurationError as exc:
        if debug:
            raise
        raise fail(str(exc), ExitCode.USAGE) from None
    except Exception as exc:
        if debug:
            raise
        raise fail(
            f"{type(exc).__name__}: {exc} (run with --debug for details)", ExitCode.RUN_FAILED
        ) from None
    raise typer.Exit(code)
