"""The ``dbos-queue`` command line."""

from dbos_queue.cli.main import main, parse

__all__ = ["main", "parse"]
