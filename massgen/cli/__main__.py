"""``python -m massgen.cli``: the ``massgen`` command, as the early releases ran it."""

from massgen.cli.main import main

if __name__ == "__main__":
    main()
