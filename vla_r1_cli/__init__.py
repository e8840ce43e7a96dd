"""The `vla-r1` command: the top of the package graph (it may import every other package; none imports it).

Building the parser imports only argparse and the standard library; each handler imports what it runs."""
