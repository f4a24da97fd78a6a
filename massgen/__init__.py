"""massgen: several LLM agents answer in parallel, read each other's answers and vote; the
most-voted agent writes the final answer.

Importing this package is cheap: nothing heavy is imported until it is used.
"""

from massgen.__about__ import __version__

__all__ = ["__version__"]
