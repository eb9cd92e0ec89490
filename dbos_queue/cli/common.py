"""What every ``dbos-queue`` command shares: options, exit codes, the database, output.

The command modules import this one, never ``cli.main`` (which imports them), so the
command line has no import cycle.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from dbos_queue.cli.values import jsonable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DB = 0, 1, 2, 3
BATCH = 500  # ids per statement in bulk operations (also the progress granularity)


# --- --json and --db-url, before or after the command ----------------------------------

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Machine-readable JSON on stdout (no progress bars).")
]
DbUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        metavar="URL",
        help="System database URL (default: config, environment, embedded Postgres).",
    ),
]


@dataclass
class Globals:
    """The options that may come before the command (``dbos-queue --json workflow list``)."""

    db_url: str | None = None
    json: bool = False


def options(ctx: typer.Context, json_out: bool = False, db_url: str | None = None) -> Globals:
    """The effective options: given after the command, else before it."""
    root = ctx.find_root().obj
    base = root if isinstance(root, Globals) else Globals()
    return Globals(db_url=db_url or base.db_url, json=json_out or base.json)


def resolve_url(opts: Globals) -> str:
    """--db-url, else the configured system database, else the embedded default."""
    if opts.db_url:
        return opts.db_url
    from dbos_queue.model.config import resolve

    settings = resolve(None)
    if settings.system_database_url:
        return settings.system_database_url
    from dbos_queue.db.embedded import server_url

    return server_url()


def client_for(opts: Globals) -> Any:
    """A DBOSClient; an unreachable database fails at once (exit 3), not after pool retries."""
    import psycopg

    from dbos_queue.api.client import DBOSClient
    from dbos_queue.model.pgurl import normalize

    url = resolve_url(opts)
    psycopg.connect(normalize(url), connect_timeout=10).close()
    return DBOSClient(url)


# --- output ------------------------------------------------------------------------------


def print_json(data: Any) -> None:
    """``data`` as one line of JSON on stdout."""
    print(json.dumps(jsonable(data), default=str))


def emit(opts: Globals, data: Any, text: str) -> None:
    """JSON with --json, else the human sentence."""
    if opts.json:
        print_json(data)
    else:
        print(text)


def fail(message: str, code: int = EXIT_FAILED) -> int:
    """Say what went wrong on stderr; return the exit code."""
    print(f"dbos-queue: {message}", file=sys.stderr)
    return code


def table(rows: list[dict[str, Any]], title: str | None = None) -> None:
    """A Rich table on stdout: boxed on a terminal, plain aligned columns in a pipe.

    Headers are the keys in upper case; a missing value shows as ``-``. In a pipe the
    table is never wrapped or cut (one row per line), so scripts can split it.
    """
    if not rows:
        print("(none)")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    tty = console.is_terminal
    if not tty:
        console = Console(highlight=False, width=100_000, no_color=True)
    t = Table(
        title=title if tty else None,
        box=box.SIMPLE_HEAD if tty else None,
        pad_edge=False,
        show_edge=False,
        header_style="bold" if tty else "",
    )
    for col in rows[0]:
        t.add_column(col.upper(), no_wrap=not tty, overflow="fold")
    for r in rows:
        t.add_row(*(Text("-" if v is None else str(v)) for v in r.values()))  # no markup
    if tty:
        console.print(t)
        return
    with console.capture() as cap:
        console.print(t)
    for line in cap.get().splitlines():
        print(line.rstrip())


def chunks(items: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    """``items`` in slices of ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
