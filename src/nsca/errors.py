"""One exception type for bad user input: the CLI turns it into a one-line message and exit 2."""


class UsageError(Exception):
    """Bad input from the user (flag, config key, task name, path). Exit code 2, nothing written."""


class ConfigError(UsageError):
    """A bad config value, named by its field (`planner.horizon`), never by a flag: a library
    config does not know how it was given. The CLI (`nsca.config.resolve`) says the flag instead."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field} {problem}")

    def within(self, parent: str) -> "ConfigError":
        """The same error, its field named from the enclosing config (`agent` + `planner.horizon`)."""
        return ConfigError(f"{parent}.{self.field}", self.problem)
