"""Durable sessions: every run's events and results on disk, listed, shown and replayed.

A session is one directory (one conversation; one *part* per question asked)::

    <id>/events.jsonl      every event of every part, one JSON object per line, flushed per
                           event (each line carries its ``part``)
         config.yaml       the resolved config, secrets redacted
         summary.json      question, strategy, agents and models, winner, tally, tokens, cost,
                           duration, status, exit status, and one entry per part
         final.md          the latest final answer
         votes.json        every vote (with its part)
         answers/<label>.md   every answer (part 1: ``agent1.1.md``; later parts are prefixed:
                           ``part2.agent1.1.md``)
         workspaces/, snapshots/, originals/   a run with files: the agents' workspaces,
                           each answer's files, the originals of the user's files the final
                           presenter changed (``massgen logs restore`` puts them back)

``events.jsonl`` is the record: only appended, flushed per event, so a killed process leaves
it readable up to its last complete line. The other files are views of it: each answer is
written when it arrives, ``final.md`` when the final answer does; ``summary.json`` and
``votes.json`` are replaced atomically at checkpoints (run started, winner, run finished). A
reader rebuilds the summary from the events while a run is going or when its process died.
"""
