"""`python -m labelkit` runs the CLI."""

from labelkit.cli import main

main()
