"""Where agents work on files: path rules (``paths``) and a run's workspaces, snapshots and
undo log (``manager``)."""
