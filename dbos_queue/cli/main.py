"""``dbos-queue`` command line.

Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration,
3 the database could not be reached.

The operational commands (enqueue, workflow, schedule, bench) live in
``_cli_ops`` and are imported only when one of them runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from dbos_queue.error import DBOSConfigError, DBOSDatabaseUnavailableError, DBOSException

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DB = 0, 1, 2, 3


def resolve_url(args: argparse.Namespace) -> str:
    """--db-url, else the configured system database, else the embedded default."""
    if getattr(args, "db_url", None):
        return args.db_url
    from dbos_queue.model.config import resolve

    settings = resolve(None)
    if settings.system_database_url:
        return settings.system_database_url
    from dbos_queue.db.embedded import server_url

    return server_url()


def cmd_demo(args: argparse.Namespace) -> int:
    from dbos_queue.cli.demo import run_demo
    from dbos_queue.db import migrate as _migrate

    url = resolve_url(args)
    _migrate.ensure_database(url)
    _migrate.migrate(url)
    return run_demo(url)


def cmd_migrate(args: argparse.Namespace) -> int:
    from dbos_queue.db import migrate as _migrate
    from dbos_queue.model.pgurl import redact

    url = resolve_url(args)
    _migrate.ensure_database(url)
    applied = _migrate.migrate(url)
    version = _migrate.current_version(url)
    _emit(
        args,
        {"database": redact(url), "applied": applied, "version": version},
        f"{redact(url)}: applied {applied or 'nothing'}; schema at version {version}",
    )
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    import psycopg

    from dbos_queue.model.pgurl import redact

    url = resolve_url(args)
    if not args.yes:
        print(
            f"This deletes every workflow in {redact(url)}. Re-run with --yes to confirm.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("DROP SCHEMA IF EXISTS dbos CASCADE")
    print(f"Dropped the dbos schema in {redact(url)}; the next launch or migrate recreates it.")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from dbos_queue.db import embedded as _embedded

    if args.db_command == "url":
        print(resolve_url(args))
        return EXIT_OK
    if _embedded.stop_server():
        print(f"Stopped the embedded Postgres in {_embedded.default_pgdata()}.")
    else:
        print(f"The embedded Postgres in {_embedded.default_pgdata()} was not running.")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from dbos_queue.cli.worker import run_worker

    return run_worker(args)


def cmd_enqueue(args: argparse.Namespace) -> int:
    from dbos_queue.cli.ops import cmd_enqueue as run

    return run(args)


def cmd_workflow(args: argparse.Namespace) -> int:
    from dbos_queue.cli.ops import cmd_workflow as run

    return run(args)


def cmd_schedule(args: argparse.Namespace) -> int:
    from dbos_queue.cli.ops import cmd_schedule as run

    return run(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from dbos_queue.cli.ops import cmd_bench as run

    return run(args)


def _limit(text: str | None) -> Any:
    from dbos_queue.queue.claim import _UNSET

    if text is None:
        return _UNSET
    return None if text.lower() in ("none", "unlimited", "off") else int(text)


def _rate(text: str | None) -> Any:
    from dbos_queue.queue.claim import _UNSET

    if text is None:
        return _UNSET
    if text.lower() in ("none", "unlimited", "off"):
        return None
    try:
        limit, _, period = text.partition("/")
        return {"limit": int(limit), "period": float(period.rstrip("s") or 1)}
    except ValueError:
        raise DBOSException(f"--rate takes LIMIT/SECONDS (e.g. 100/1), got {text!r}") from None


def cmd_queue(args: argparse.Namespace) -> int:
    import time

    from dbos_queue.api.client import DBOSClient
    from dbos_queue.db import sql as _sql
    from dbos_queue.queue.claim import set_queue_limits

    with DBOSClient(resolve_url(args)) as client:
        run = client.engine.run
        if args.queue_command == "list":
            stats = {r[0]: r for r in run(client.sysdb.fetchall(_sql.QUEUE_STATS))}
            rows = []
            for q in run(client.sysdb.fetchall(_sql.LIST_QUEUES)):
                st = stats.get(q[0], (q[0], 0, 0, 0, None))
                rows.append(
                    {
                        "name": q[0],
                        "concurrency": q[1],
                        "worker_concurrency": q[2],
                        "rate": f"{q[3]}/{q[4]:g}s" if q[3] else None,
                        "partition_concurrency": q[5],
                        "paused": q[10],
                        "source": q[11],
                        "depth": st[1],
                        "running": st[2],
                        "delayed": st[3],
                        "oldest_age_s": round(time.time() - st[4] / 1000, 3) if st[4] else None,
                    }
                )
            _table(args, rows)
            return EXIT_OK
        changes: dict[str, Any] = {}
        if args.queue_command == "set":
            changes = {
                "global_concurrency": _limit(args.concurrency),
                "worker_concurrency": _limit(args.worker_concurrency),
                "limiter": _rate(args.rate),
            }
        else:
            changes = {"paused": args.queue_command == "pause"}
        if not run(set_queue_limits(client.sysdb, args.name, **changes)):
            print(f"dbos-queue: no queue named {args.name!r}", file=sys.stderr)
            return EXIT_FAILED
        print(f"queue {args.name}: {args.queue_command} applied; workers follow within a second")
        return EXIT_OK


def _table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(rows, default=str))
        return
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    width = {c: max(len(c), *(len("-" if r[c] is None else str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(width[c]) for c in cols))
    for r in rows:
        print("  ".join(("-" if r[c] is None else str(r[c])).ljust(width[c]) for c in cols))


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, default=str))
    else:
        print(text)


EPILOG = """\
exit codes (scripts can rely on them):
  0  ok
  1  the operation failed, or the workflow / queue / schedule does not exist
  2  usage or configuration error (bad arguments, invalid JSON, missing schema)
  3  the database could not be reached

--json (before or after the command) prints machine-readable JSON on stdout;
progress bars go to stderr, only on a terminal, and never with --json.
"""


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Accept --json and --db-url after the command too (``workflow list --json``)."""
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    parser.add_argument(
        "--db-url",
        default=argparse.SUPPRESS,
        help="system database URL (default: config, env, embedded)",
    )
    return parser


STATUSES = (
    "DELAYED",
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
)


def status_arg(text: str) -> list[str]:
    """argparse type for --status: one status or a comma-separated list, any case."""
    out = []
    for part in text.split(","):
        s = part.strip().upper()
        if s not in STATUSES:
            raise argparse.ArgumentTypeError(
                f"unknown status {part.strip()!r} (choose from {', '.join(STATUSES)})"
            )
        out.append(s)
    return out


def _statuses_arg(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--status",
        action="append",
        type=status_arg,
        metavar="STATUS",
        help=help_text + " (repeat, or comma-separate)",
    )


def _add_workflow_parser(sub: Any) -> None:
    wf = sub.add_parser(
        "workflow",
        help="list, inspect, cancel, resume, fork, collect workflows",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    wsub = wf.add_subparsers(dest="workflow_command", required=True)

    ls = _common(wsub.add_parser("list", help="workflows matching filters (a table; --json)"))
    _statuses_arg(ls, "only these statuses")
    ls.add_argument("--name", help="workflow function name")
    ls.add_argument("--queue", help="queue name")
    ls.add_argument("--prefix", help="workflow id prefix")
    ls.add_argument("--since", metavar="ISO", help="created at or after (ISO-8601)")
    ls.add_argument("--until", metavar="ISO", help="created at or before (ISO-8601)")
    ls.add_argument("--limit", type=int, default=100, help="at most N rows (default 100; 0: all)")
    ls.add_argument("--offset", type=int, default=0, help="skip the first N rows")
    ls.add_argument("--desc", action="store_true", help="newest first")

    get = _common(wsub.add_parser("get", help="one workflow's status, input, output, error"))
    get.add_argument("workflow_id")
    steps = _common(wsub.add_parser("steps", help="one workflow's recorded steps"))
    steps.add_argument("workflow_id")

    cancel = _common(
        wsub.add_parser(
            "cancel",
            help="cancel workflows by id, or every one matching filters",
            description="Cancel unfinished workflows (a running one stops at its next step). "
            "Give ids, or filters: e.g. --status ENQUEUED --queue emails cancels that "
            "queue's backlog (without --status: ENQUEUED, DELAYED and PENDING). "
            "Finished workflows are reported and skipped.",
        )
    )
    cancel.add_argument("workflow_ids", nargs="*", metavar="ID")
    cancel.add_argument("--children", action="store_true", help="cancel child workflows too")
    _statuses_arg(cancel, "filter: statuses")
    cancel.add_argument("--queue", help="filter: queue name")
    cancel.add_argument("--name", help="filter: workflow function name")

    resume = _common(
        wsub.add_parser(
            "resume",
            help="resume workflows by id, or every one matching filters",
            description="Continue cancelled, failed or dead-lettered workflows from their last "
            "recorded step (any worker runs them). Give ids, or filters (without "
            "--status: CANCELLED, ERROR and MAX_RECOVERY_ATTEMPTS_EXCEEDED). "
            "Successful or running workflows are reported and skipped.",
        )
    )
    resume.add_argument("workflow_ids", nargs="*", metavar="ID")
    _statuses_arg(resume, "filter: statuses")
    resume.add_argument("--queue", help="filter: queue name")
    resume.add_argument("--name", help="filter: workflow function name")
    resume.add_argument("--to-queue", help="run them from this queue (default: any worker)")

    fork = _common(wsub.add_parser("fork", help="re-run a workflow from a step as a new workflow"))
    fork.add_argument("workflow_id")
    fork.add_argument("--step", type=int, default=1, help="first step to re-run (from 1)")
    fork.add_argument("--id", help="id for the new workflow (default: a new UUID)")
    fork.add_argument("--app-version", help="application version for the new workflow")
    fork.add_argument("--to-queue", help="run it from this queue (default: any worker)")

    gc = _common(
        wsub.add_parser(
            "gc",
            help="delete old finished workflows",
            description="Delete finished workflows (SUCCESS, ERROR, CANCELLED, dead-lettered) "
            "with their steps, events and messages. Unfinished ones are never deleted.",
        )
    )
    gc.add_argument(
        "--older-than",
        metavar="DURATION",
        help="finished workflows created longer ago than this (7d, 12h, 30m, 45s)",
    )
    gc.add_argument(
        "--keep",
        type=int,
        metavar="N",
        help="keep the newest N workflows; delete older finished ones",
    )
    wf.set_defaults(func=cmd_workflow)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dbos-queue",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db-url", help="system database URL (default: config, env, embedded)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("demo", help="crash a worker mid-workflow and watch it resume").set_defaults(
        func=cmd_demo
    )
    _common(sub.add_parser("migrate", help="create or upgrade the dbos schema")).set_defaults(
        func=cmd_migrate
    )
    reset = _common(sub.add_parser("reset", help="drop the dbos schema (all workflows)"))
    reset.add_argument("--yes", action="store_true", help="really do it")
    reset.set_defaults(func=cmd_reset)

    db = sub.add_parser("db", help="the embedded Postgres")
    db.add_argument("db_command", choices=["url", "stop"])
    db.set_defaults(func=cmd_db)

    q = sub.add_parser("queue", help="inspect and tune queues")
    qsub = q.add_subparsers(dest="queue_command", required=True)
    _common(qsub.add_parser("list", help="limits, depth, running, oldest age")).set_defaults(
        func=cmd_queue
    )
    qs = _common(qsub.add_parser("set", help="change limits at runtime ('none' clears one)"))
    qs.add_argument("name")
    qs.add_argument("--concurrency", help="fleet-wide concurrency")
    qs.add_argument("--worker-concurrency", help="per-process concurrency")
    qs.add_argument("--rate", help="rate limit as LIMIT/SECONDS, e.g. 100/1")
    qs.set_defaults(func=cmd_queue)
    for verb in ("pause", "resume"):
        qp = _common(qsub.add_parser(verb, help=f"{verb} claiming from a queue"))
        qp.add_argument("name")
        qp.set_defaults(func=cmd_queue)

    enq = _common(
        sub.add_parser(
            "enqueue",
            help="enqueue a workflow by name; prints its id",
            description="Enqueue WORKFLOW on QUEUE (a worker that declares both runs it) and print "
            "the workflow id; with --wait, print its result as JSON instead.",
        )
    )
    enq.add_argument("queue")
    enq.add_argument("workflow", help="the workflow's registered name")
    enq.add_argument("--args", metavar="JSON", help="positional arguments as a JSON array")
    enq.add_argument("--kwargs", metavar="JSON", help="keyword arguments as a JSON object")
    enq.add_argument("--id", help="workflow id (default: a new UUID; an existing id is a no-op)")
    enq.add_argument("--priority", type=int, help="0 (first) .. 2147483647")
    enq.add_argument("--dedup", metavar="ID", help="deduplication id")
    enq.add_argument("--partition", metavar="KEY", help="queue partition key")
    enq.add_argument("--delay", type=float, metavar="S", help="start no earlier than S seconds")
    enq.add_argument("--wait", action="store_true", help="wait and print the result as JSON")
    enq.add_argument("--timeout", type=float, metavar="S", help="with --wait: give up after S s")
    enq.set_defaults(func=cmd_enqueue)

    _add_workflow_parser(sub)

    sch = sub.add_parser("schedule", help="scheduled workflows")
    ssub = sch.add_subparsers(dest="schedule_command", required=True)
    sls = _common(ssub.add_parser("list", help="the stored schedules"))
    sls.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        type=lambda t: [x.strip().upper() for x in t.split(",")],
        help="ACTIVE or PAUSED (repeat, or comma-separate)",
    )
    sls.add_argument("--workflow", help="workflow name")
    sls.add_argument("--prefix", help="schedule name prefix")
    sls.add_argument(
        "--kind",
        choices=["decorator", "api"],
        help="decorator (@DBOS.scheduled) or api (DBOS.create_schedule)",
    )
    sls.set_defaults(func=cmd_schedule)
    sdel = _common(ssub.add_parser("delete", help="delete a schedule"))
    sdel.add_argument("name")
    sdel.set_defaults(func=cmd_schedule)

    bench = _common(
        sub.add_parser(
            "bench",
            help="end-to-end smoke benchmark against the database",
            description="Start W worker processes on a temporary queue, enqueue N workflows of "
            "S steps with enqueue_many, and report workflows per second. The queue "
            "and its workflows are deleted afterwards unless --keep.",
        )
    )
    bench.add_argument("--n", type=int, default=2000, help="workflows to run (default 2000)")
    bench.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    bench.add_argument("--steps", type=int, default=1, help="steps per workflow (default 1)")
    bench.add_argument(
        "--stall-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="fail when nothing finishes for S seconds (default 60)",
    )
    bench.add_argument(
        "--keep", action="store_true", help="keep the bench queue and its workflows for inspection"
    )
    bench.set_defaults(func=cmd_bench)

    w = sub.add_parser("worker", help="run workflows from queues")
    w.add_argument("app_module", help="module that declares the workflows and queues")
    w.add_argument("--queue", action="append", dest="queues", help="listen to this queue (repeat)")
    w.add_argument("--concurrency", type=int, help="max workflows running in this process")
    w.add_argument("--drain-timeout", type=float, help="seconds to finish work on SIGTERM")
    w.add_argument("--executor-id", help="executor id (default: config, DBOS__VMID, 'local')")
    w.add_argument("--admin-port", type=int, help="admin server port (default 3001; 0 = any)")
    w.add_argument("--no-admin", action="store_true", help="do not start the admin server")
    w.set_defaults(func=cmd_worker)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("dbos-queue: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dbos-queue workflow list | head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except DBOSConfigError as exc:
        print(f"dbos-queue: configuration error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except DBOSDatabaseUnavailableError as exc:
        print(f"dbos-queue: {exc.message}", file=sys.stderr)
        return EXIT_DB
    except DBOSException as exc:
        print(f"dbos-queue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        import psycopg

        # Not imported here: a bench worker must import cli.ops only as its app module.
        ops = sys.modules.get("dbos_queue.cli.ops")
        if ops is not None and isinstance(exc, ops.UsageError):
            print(f"dbos-queue: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, psycopg.OperationalError):
            print(f"dbos-queue: cannot reach the database: {str(exc).strip()}", file=sys.stderr)
            return EXIT_DB
        if isinstance(
            exc,
            (
                psycopg.errors.UndefinedTable,
                psycopg.errors.InvalidSchemaName,
                psycopg.errors.UndefinedColumn,
                psycopg.errors.UndefinedFunction,
            ),
        ):
            print(
                f"dbos-queue: the dbos schema is missing or out of date in this database "
                f"({str(exc).strip().splitlines()[0]}); run `dbos-queue migrate`",
                file=sys.stderr,
            )
            return EXIT_USAGE
        raise


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
