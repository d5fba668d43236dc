"""`python -m app.cli` runs the `glengarry` command."""

from app.cli.main import main

main()
