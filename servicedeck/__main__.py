"""`python -m servicedeck`: the same as the `servicedeck` command."""

from servicedeck.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
