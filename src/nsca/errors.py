"""One exception type for bad user input: the CLI turns it into a one-line message and exit 2."""


class UsageError(Exception):
    """Bad input from the user (flag, config key, task name, path). Exit code 2, nothing written."""
