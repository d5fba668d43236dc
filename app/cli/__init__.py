"""The `glengarry` command line."""
