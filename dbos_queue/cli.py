"""``dbos-queue`` command line.

Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration,
3 the database could not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, List, Optional

from .error import DBOSConfigError, DBOSDatabaseUnavailableError, DBOSException

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DB = 0, 1, 2, 3


def resolve_url(args: argparse.Namespace) -> str:
    """--db-url, else the configured system database, else the embedded default."""
    if getattr(args, "db_url", None):
        return args.db_url
    from ._config import resolve

    settings = resolve(None)
    if settings.system_database_url:
        return settings.system_database_url
    from ._embedded import server_url

    return server_url()


def cmd_demo(args: argparse.Namespace) -> int:
    from . import _migrate
    from .demo import run_demo

    url = resolve_url(args)
    _migrate.ensure_database(url)
    _migrate.migrate(url)
    return run_demo(url)


def cmd_migrate(args: argparse.Namespace) -> int:
    from . import _migrate
    from ._pgurl import redact

    url = resolve_url(args)
    _migrate.ensure_database(url)
    applied = _migrate.migrate(url)
    version = _migrate.current_version(url)
    _emit(args, {"database": redact(url), "applied": applied, "version": version},
          f"{redact(url)}: applied {applied or 'nothing'}; schema at version {version}")
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    import psycopg

    from ._pgurl import redact

    url = resolve_url(args)
    if not args.yes:
        print(f"This deletes every workflow in {redact(url)}. Re-run with --yes to confirm.",
              file=sys.stderr)
        return EXIT_USAGE
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("DROP SCHEMA IF EXISTS dbos CASCADE")
    print(f"Dropped the dbos schema in {redact(url)}; the next launch or migrate recreates it.")
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from . import _embedded

    if args.db_command == "url":
        print(resolve_url(args))
        return EXIT_OK
    if _embedded.stop_server():
        print(f"Stopped the embedded Postgres in {_embedded.default_pgdata()}.")
    else:
        print(f"The embedded Postgres in {_embedded.default_pgdata()} was not running.")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from .worker import run_worker

    return run_worker(args)


def _limit(text: Optional[str]) -> Any:
    from ._dequeue import _UNSET

    if text is None:
        return _UNSET
    return None if text.lower() in ("none", "unlimited", "off") else int(text)


def _rate(text: Optional[str]) -> Any:
    from ._dequeue import _UNSET

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

    from . import _sql
    from ._client import DBOSClient
    from ._dequeue import set_queue_limits

    with DBOSClient(resolve_url(args)) as client:
        run = client.engine.run
        if args.queue_command == "list":
            stats = {r[0]: r for r in run(client.sysdb.fetchall(_sql.QUEUE_STATS))}
            rows = []
            for q in run(client.sysdb.fetchall(_sql.LIST_QUEUES)):
                st = stats.get(q[0], (q[0], 0, 0, 0, None))
                rows.append({
                    "name": q[0], "concurrency": q[1], "worker_concurrency": q[2],
                    "rate": f"{q[3]}/{q[4]:g}s" if q[3] else None,
                    "partition_concurrency": q[5], "paused": q[10], "source": q[11],
                    "depth": st[1], "running": st[2], "delayed": st[3],
                    "oldest_age_s": round(time.time() - st[4] / 1000, 3) if st[4] else None,
                })
            _table(args, rows)
            return EXIT_OK
        changes: Dict[str, Any] = {}
        if args.queue_command == "set":
            changes = {"global_concurrency": _limit(args.concurrency),
                       "worker_concurrency": _limit(args.worker_concurrency),
                       "limiter": _rate(args.rate)}
        else:
            changes = {"paused": args.queue_command == "pause"}
        if not run(set_queue_limits(client.sysdb, args.name, **changes)):
            print(f"dbos-queue: no queue named {args.name!r}", file=sys.stderr)
            return EXIT_FAILED
        print(f"queue {args.name}: {args.queue_command} applied; workers follow within a second")
        return EXIT_OK


def _table(args: argparse.Namespace, rows: List[Dict[str, Any]]) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dbos-queue", description=__doc__.splitlines()[0])
    p.add_argument("--db-url", help="system database URL (default: config, env, embedded)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("demo", help="crash a worker mid-workflow and watch it resume").set_defaults(
        func=cmd_demo)
    sub.add_parser("migrate", help="create or upgrade the dbos schema").set_defaults(
        func=cmd_migrate)
    reset = sub.add_parser("reset", help="drop the dbos schema (all workflows)")
    reset.add_argument("--yes", action="store_true", help="really do it")
    reset.set_defaults(func=cmd_reset)

    db = sub.add_parser("db", help="the embedded Postgres")
    db.add_argument("db_command", choices=["url", "stop"])
    db.set_defaults(func=cmd_db)

    q = sub.add_parser("queue", help="inspect and tune queues")
    qsub = q.add_subparsers(dest="queue_command", required=True)
    qsub.add_parser("list", help="limits, depth, running, oldest age").set_defaults(func=cmd_queue)
    qs = qsub.add_parser("set", help="change limits at runtime ('none' clears one)")
    qs.add_argument("name")
    qs.add_argument("--concurrency", help="fleet-wide concurrency")
    qs.add_argument("--worker-concurrency", help="per-process concurrency")
    qs.add_argument("--rate", help="rate limit as LIMIT/SECONDS, e.g. 100/1")
    qs.set_defaults(func=cmd_queue)
    for verb in ("pause", "resume"):
        qp = qsub.add_parser(verb, help=f"{verb} claiming from a queue")
        qp.add_argument("name")
        qp.set_defaults(func=cmd_queue)

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


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except DBOSConfigError as exc:
        print(f"dbos-queue: configuration error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except DBOSDatabaseUnavailableError as exc:
        print(f"dbos-queue: {exc.message}", file=sys.stderr)
        return EXIT_DB
    except DBOSException as exc:
        print(f"dbos-queue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - map driver errors to a clear exit code
        import psycopg

        if isinstance(exc, psycopg.OperationalError):
            print(f"dbos-queue: cannot reach the database: {str(exc).strip()}", file=sys.stderr)
            return EXIT_DB
        raise


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
