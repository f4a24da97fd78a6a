"""Plain and JSON renderers for non-TTY use."""
