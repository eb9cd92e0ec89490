"""The ``dbos-queue`` command line."""

from dbos_queue.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
