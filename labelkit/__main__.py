"""`python -m labelkit` and the `labelkit` command run the CLI."""

import sys

NOT_STARTED = "interrupted before the command started: nothing was changed"


def run() -> None:
    """Import the CLI, then run it; Ctrl-C while the CLI's libraries load says so in a
    line, as it does once the command runs, not in a traceback through the imports."""
    try:
        from labelkit.cli import main
    except KeyboardInterrupt:
        sys.stderr.write(NOT_STARTED + "\n")
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
