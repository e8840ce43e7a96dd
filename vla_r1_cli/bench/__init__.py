"""`vla-r1 bench`: benchmarks that write their results as JSON (command.py is the subcommand shell)."""
