"""Exit codes and the one usage error of every `vla-r1` subcommand (a module of its own so that
`python -m vla_r1_cli` and the installed command raise and catch the same class)."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNPARSEABLE = 3


class UsageError(Exception):
    """Bad arguments or unreadable input files: reported on stderr with exit code 2."""
