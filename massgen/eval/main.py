"""``massgen eval``: load the items, run the strategies, write the reports."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from massgen.config.schema import MassGenConfig
from massgen.errors import ConfigurationError
from massgen.eval import report, tables
from massgen.eval.cache import ResultCache, config_hash, default_dir
from massgen.eval.datasets import builtin, load_jsonl
from massgen.eval.items import Item
from massgen.eval.runner import Eval, parse_strategies, strategy_key
from massgen.exitcodes import ExitCode


@dataclass
class Options:
    data: str | None
    builtin: str | None
    strategies: str
    limit: int | None = None
    concurrency: int = 4
    samples: int = 0
    size: int = 20
    seed: int = 0
    json_out: str | None = None
    csv_out: str | None = None
    plot_out: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    matched: bool = True


def load_items(options: Options) -> tuple[list[Item], str]:
    """The items and the dataset's name."""
    if (options.data is None) == (options.builtin is None):
        raise ConfigurationError("give a JSONL file or --builtin NAME (e.g. --builtin arithmetic)")
    if options.limit is not None and options.limit < 1:
        raise ConfigurationError(f"--limit: must be at least 1, got {options.limit}")
    if options.builtin is not None:
        if options.size < 1:
            raise ConfigurationError(f"--size: must be at least 1, got {options.size}")
        items, name = builtin(options.builtin, options.size, options.seed), options.builtin
        name = f"{name} (seed {options.seed})"
    else:
        path = Path(options.data or "")
        items, name = load_jsonl(path), str(path)
    return items[: options.limit] if options.limit else items, name


def run(config: MassGenConfig, source: str, options: Options) -> int:
    """The eval, start to end; returns the exit code."""
    strategies = parse_strategies(options.strategies)
    if options.concurrency < 1:
        raise ConfigurationError(f"--concurrency: must be at least 1, got {options.concurrency}")
    if options.samples < 0:
        raise ConfigurationError(f"--samples: must be at least 1, got {options.samples}")
    if options.plot_out:
        report.check_plot()  # before spending anything
    items, dataset = load_items(options)
    config_id = config_hash(config)
    directory = None if options.no_cache else Path(options.cache_dir or default_dir())
    cache = ResultCache(directory, config_id)
    progress = _Progress([*strategies, *(["matched"] if options.matched else [])], len(items))
    job = Eval(
        config,
        items,
        strategies,
        cache,
        samples=options.samples,
        concurrency=options.concurrency,
        on_result=progress.advance,
        matched=options.matched,
    )
    try:
        with progress:
            asyncio.run(job.run())
    except KeyboardInterrupt:
        kept = len(cache.results)
        sys.stderr.write(
            f"massgen eval: interrupted; {kept} result(s) are cached: run the same command "
            "again to continue\n"
        )
        return ExitCode.INTERRUPTED
    finally:
        cache.close()
    meta: dict[str, Any] = {
        "dataset": dataset,
        "config": source,
        "config_hash": config_id,
        "samples": job.samples,
        "strategy_keys": {s: strategy_key(s, job.samples) for s in strategies},
    }
    data = report.build(job, meta)
    title = f"massgen eval · {dataset} · {len(items)} item(s)"
    from rich.console import Console

    width = None if sys.stdout.isatty() else 160  # a file or a pipe: no table squeezed
    Console(highlight=False, width=width).print(tables.render(data, title))
    if options.json_out:
        report.write_json(data, Path(options.json_out))
    written = [options.json_out, options.csv_out, options.plot_out]
    if options.csv_out:
        report.write_csv(data, Path(options.csv_out))
        written.insert(2, str(report.summary_path(Path(options.csv_out))))
    if options.plot_out:
        report.write_plot(data, Path(options.plot_out), title)
    for path in written:
        if path:
            sys.stderr.write(f"massgen eval: wrote {path}\n")
    rows = [r for name in strategies for r in job.results[name].values()]
    if rows and all(r["status"] == "failed" for r in rows):
        error = next((r["error"] for r in rows if r.get("error")), "no answers")
        sys.stderr.write(f"massgen eval: every run failed ({error})\n")
        return ExitCode.RUN_FAILED
    return ExitCode.OK


class _Progress:
    """A progress bar on a terminal; elsewhere a line as each strategy finishes."""

    def __init__(self, strategies: list[str], total: int) -> None:
        self.total = total
        self.done: dict[str, list[dict[str, Any]]] = {s: [] for s in strategies}
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            for name in strategies:
                self.tasks[name] = self.bar.add_task(name, total=total)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, strategy: str, item: Item, result: dict[str, Any]) -> None:
        done = self.done[strategy]
        done.append(result)
        if self.bar is not None:
            self.bar.advance(self.tasks[strategy])
        elif len(done) == self.total:
            sys.stderr.write(report.line(strategy, done, self.total) + "\n")
            sys.stderr.flush()
