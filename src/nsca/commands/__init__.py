"""CLI sub-commands. Each module defines NAME, HELP, add_arguments(parser) and run(args) -> int.

Modules here stay light at import time (heavy imports go inside run) so `nsca --help` is fast.
"""
