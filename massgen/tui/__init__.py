"""The Textual terminal app (imported only when it runs: Textual is heavy)."""
