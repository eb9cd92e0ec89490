"""``dbos-queue``: the command line (Typer, with Rich tables and progress bars).

Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration,
3 the database could not be reached. The commands live in the ``cmd_*`` modules,
``bench``, ``demo`` and ``worker``; they import ``cli.common``, never this module.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
from typing import Annotated, Any

import typer

from dbos_queue.cli import bench, cmd_queue, cmd_schedule, cmd_workflow
from dbos_queue.cli.common import (
    EXIT_DB,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    DbUrlOpt,
    Globals,
    JsonOpt,
    emit,
    options,
    resolve_url,
)
from dbos_queue.cli.values import UsageError
from dbos_queue.error import (
    DBOSConfigError,
    DBOSDatabaseUnavailableError,
    DBOSException,
    DBOSSchemaMissingError,
)

HELP = """Durable workflows on Postgres, run by a horizontally scaled pool of workers.

**Start here:** `dbos-queue demo` starts 3 worker processes on the embedded
Postgres, enqueues 3000 three-step workflows onto one queue (global concurrency 24)
from a separate producer, kills one worker with SIGKILL part-way and shows another
take over its workflows once its lease expires. Its last line, read back from the
database, says how many were taken over, lost and run twice (`dbos-queue demo
--help` defines each count). `dbos-queue demo --crash`: one workflow survives a kill.

**Workers** (`dbos-queue worker APP_MODULE`) serve the admin server (admin API,
/metrics, /dashboard) on admin_port 3001 (`--admin-port`, `--no-admin`). Auth by
default: with no admin_token set (config admin_token or DBOS_QUEUE_ADMIN_TOKEN) reads
are open and the routes that change state (cancel, resume, fork, queue changes) are
refused unless the server listens on loopback only (admin_host 127.0.0.1); with a
token, every route but /dbos-healthz and /metrics needs `Authorization: Bearer TOKEN`.

**Benchmarks:** `dbos-queue bench` is an end-to-end smoke benchmark on your
database; `python -m benchmarks.peers` (source checkout; charts need the bench extra)
compares dbos-queue side by side with other Postgres queues.
"""

EPILOG = """Exit codes (scripts can rely on them):

```
0  ok
1  the operation failed, or the workflow / queue / schedule does not exist
2  usage or configuration error (bad arguments, invalid JSON, missing schema)
3  the database could not be reached
```

`--json` (before or after the command) prints machine-readable JSON on stdout;
progress bars go to stderr, only on a terminal, and never with `--json`.
Shell completion: `dbos-queue --install-completion` (or `--show-completion`).
"""

app = typer.Typer(
    name="dbos-queue",
    help=HELP,
    epilog=EPILOG,
    no_args_is_help=True,
    rich_markup_mode="markdown",  # help paragraphs wrap to the terminal; `code` shows
    pretty_exceptions_enable=False,  # tracebacks stay plain text for bug reports
)


@app.callback()
def root(
    ctx: typer.Context,
    db_url: DbUrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Options for every command (also accepted after the command)."""
    ctx.obj = Globals(db_url=db_url, json=json_out)


# The numbers here are cli/demo_app.py's and cli/demo.py's (tests/test_demo.py checks).
DEMO_HELP = """Watch a pool of workers share a queue and survive a killed worker.

On the configured system database (by default the embedded Postgres), start 3
`dbos-queue worker` processes serving one queue with a global concurrency of 24 and an
executor lease of 4 s, and a separate producer process that enqueues N workflows of 3
steps with a DBOSClient. Each step body inserts a row into the demo's side-effect table
(dbos_queue_demo_effects) before its result is recorded. Live: queue depth, running
against the limit, per-worker counts, throughput. When 30% are done the busiest worker
is killed with SIGKILL; its workflows stay PENDING until its lease expires, then go back
to the queue and the other workers finish them from their last recorded steps.

The last line, every number read back from the database:

```
demo: N workflows, 3 workers, 1 killed, T taken over, 0 lost, 0 ran twice, X workflows/s
```

- **N**: workflows on the demo's queue.
- **workers**: worker processes whose step bodies ran.
- **killed**: workers the operating system reports killed by SIGKILL.
- **taken over**: workflows the killed worker held (PENDING) when it died that another
  worker then finished.
- **lost**: workflows asked for that did not finish SUCCESS with a side-effect row for
  every step.
- **ran twice**: step-body runs beyond the first, over every step of every workflow, not
  counting one re-run per taken-over workflow of the step the SIGKILL interrupted (the
  killed worker's last step there: its body ran, its result was not recorded yet).
- **workflows/s**: N over the time from the first enqueue to the last finish.

Exit code 0 when nothing was lost and nothing ran twice. Ctrl-C stops every process the
demo started. The demo's queue, workflows and rows are deleted at the end unless --keep.
"""


@app.command(help=DEMO_HELP)
def demo(
    ctx: typer.Context,
    crash: Annotated[
        bool, typer.Option("--crash", help="The single-workflow crash demo instead.")
    ] = False,
    workflows: Annotated[int, typer.Option(metavar="N", help="Workflows to enqueue.")] = 3000,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo's queue, workflows and rows.")
    ] = False,
    db_url: DbUrlOpt = None,
) -> int:
    """The queue demo (or, with --crash, the single-workflow crash demo)."""
    from dbos_queue.db import migrate as _migrate

    if workflows < 1:
        raise UsageError(f"--workflows must be at least 1; got {workflows}")
    url = resolve_url(options(ctx, db_url=db_url))
    _migrate.ensure_database(url)
    _migrate.migrate(url)
    if crash:
        from dbos_queue.cli.demo_crash import run_demo as run_crash_demo

        return run_crash_demo(url)
    from dbos_queue.cli.demo import run_demo

    return run_demo(url, workflows, keep)


@app.command()
def migrate(ctx: typer.Context, json_out: JsonOpt = False, db_url: DbUrlOpt = None) -> int:
    """Create or upgrade the dbos schema."""
    from dbos_queue.db import migrate as _migrate
    from dbos_queue.model.pgurl import redact

    opts = options(ctx, json_out, db_url)
    url = resolve_url(opts)
    _migrate.ensure_database(url)
    applied = _migrate.migrate(url)
    version = _migrate.current_version(url)
    emit(
        opts,
        {"database": redact(url), "applied": applied, "version": version},
        f"{redact(url)}: applied {applied or 'nothing'}; schema at version {version}",
    )
    return EXIT_OK


@app.command()
def reset(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Really do it.")] = False,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Drop the dbos schema (every workflow)."""
    import psycopg

    from dbos_queue.db import sql as _sql
    from dbos_queue.model.pgurl import normalize, redact

    url = resolve_url(options(ctx, json_out, db_url))
    if not yes:
        print(
            f"This deletes every workflow in {redact(url)}. Re-run with --yes to confirm.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with psycopg.connect(normalize(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(_sql.DROP_SYSTEM_SCHEMA)
    print(f"Dropped the dbos schema in {redact(url)}; the next launch or migrate recreates it.")
    return EXIT_OK


class DbCommand(enum.StrEnum):
    """What ``dbos-queue db`` does."""

    url = "url"
    stop = "stop"


@app.command()
def db(
    ctx: typer.Context,
    command: Annotated[DbCommand, typer.Argument(help="url: print it; stop: stop the server.")],
) -> int:
    """The embedded Postgres: print the database URL in use, or stop the server."""
    from dbos_queue.db import embedded as _embedded

    if command is DbCommand.url:
        print(resolve_url(options(ctx)))
        return EXIT_OK
    if _embedded.stop_server():
        print(f"Stopped the embedded Postgres in {_embedded.default_pgdata()}.")
    else:
        print(f"The embedded Postgres in {_embedded.default_pgdata()} was not running.")
    return EXIT_OK


@app.command()
def worker(
    app_module: Annotated[
        str, typer.Argument(help="Module that declares the workflows and queues.")
    ],
    queues: Annotated[
        list[str] | None,
        typer.Option("--queue", metavar="NAME", help="Listen to this queue (repeat)."),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(metavar="N", help="Max workflows running in this process.")
    ] = None,
    drain_timeout: Annotated[
        float | None, typer.Option(metavar="S", help="Seconds to finish work on SIGTERM.")
    ] = None,
    executor_id: Annotated[
        str | None, typer.Option(help="Executor id (default: config, DBOS__VMID, 'local').")
    ] = None,
    admin_port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Admin server port (default 3001; 0: any).")
    ] = None,
    no_admin: Annotated[
        bool, typer.Option("--no-admin", help="Do not start the admin server.")
    ] = False,
) -> int:
    """Run workflows from queues until SIGTERM or Ctrl-C (then drain and exit 0)."""
    from dbos_queue.cli.worker import run_worker

    return run_worker(
        argparse.Namespace(
            app_module=app_module,
            queues=queues,
            concurrency=concurrency,
            drain_timeout=drain_timeout,
            executor_id=executor_id,
            admin_port=admin_port,
            no_admin=no_admin,
        )
    )


app.command("enqueue")(cmd_queue.enqueue)
app.add_typer(cmd_workflow.app, name="workflow")
app.add_typer(cmd_queue.app, name="queue")
app.add_typer(cmd_schedule.app, name="schedule")
app.command("bench")(bench.bench)


def parse(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Parse a command line without running it: (command path, the last command's params).

    ``parse(["worker", "app", "--admin-port", "9"])`` is ``(["worker"], {..., "admin_port":
    9, ...})``; bad arguments raise the usage error the command line would report.
    """
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("dbos-queue", list(argv))
    path: list[str] = []
    while hasattr(command, "resolve_command") and _rest(ctx):
        name, command, rest = command.resolve_command(ctx, _rest(ctx))
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    return path, dict(ctx.params)


def _rest(ctx: Any) -> list[str]:
    """What a group context left for its sub-command (the command name first)."""
    # Typer's Click keeps the command name in a private attribute; Click had it public.
    first = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
    return [*first, *ctx.args]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="dbos-queue", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors found while parsing
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"dbos-queue: {exc.format_message()}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_USAGE)
    except typer.Abort:
        print("dbos-queue: aborted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `dbos-queue workflow list | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        return _exit_code(exc)
    return rv if isinstance(rv, int) else EXIT_OK


def _exit_code(exc: Exception) -> int:
    """Report a failed command on stderr and choose its exit code; re-raise the unknown."""
    import psycopg

    if isinstance(exc, UsageError):
        print(f"dbos-queue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, DBOSConfigError):
        print(f"dbos-queue: configuration error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, DBOSDatabaseUnavailableError):
        print(f"dbos-queue: {exc.message}", file=sys.stderr)
        return EXIT_DB
    if isinstance(exc, DBOSSchemaMissingError):
        print(f"dbos-queue: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, DBOSException):
        print(f"dbos-queue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(exc, psycopg.OperationalError):
        print(f"dbos-queue: cannot reach the database: {str(exc).strip()}", file=sys.stderr)
        return EXIT_DB
    missing = (
        psycopg.errors.UndefinedTable,
        psycopg.errors.InvalidSchemaName,
        psycopg.errors.UndefinedColumn,
        psycopg.errors.UndefinedFunction,
    )
    if isinstance(exc, missing):
        print(
            f"dbos-queue: the dbos schema is missing or out of date in this database "
            f"({str(exc).strip().splitlines()[0]}); run `dbos-queue migrate`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    raise exc


if __name__ == "__main__":
    sys.exit(main())
