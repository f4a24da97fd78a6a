"""``massgen eval``: does a team beat one model? Datasets (JSONL files and built-in sets),
scorers, the strategies compared (single, vote, debate, judge, self_consistency), a cache that
makes an interrupted eval resumable, and the reports (table, JSON, CSV, plot).

Nothing here is imported by ``massgen --help``; the CLI imports it when ``eval`` runs.
"""
