"""The operational commands of ``dbos-queue``: enqueue, workflow, schedule, bench.

``cli.py`` builds the parser and imports this module lazily, inside the command
that needs it. Every command talks to the system database through a
``DBOSClient`` and the shared management coroutines (``_management``).

The bottom of the module is the benchmark's worker app. ``dbos-queue bench``
starts ``python -m dbos_queue.cli worker dbos_queue.cli.ops --queue NAME``
with ``DBOS_QUEUE_BENCH_QUEUE`` and ``DBOS_QUEUE_BENCH_URL`` set; only then
does importing this module configure DBOS and register the bench workflow, so
the CLI process (and anything else that imports it) registers nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import datetime as _dt
import json
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DB = 0, 1, 2, 3

UNFINISHED = ["ENQUEUED", "DELAYED", "PENDING"]
RESUMABLE = ["CANCELLED", "ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]
BATCH = 500  # ids per statement in bulk operations (also the progress granularity)

BENCH_WORKFLOW = "dbos_queue_bench"
BENCH_STEP = "dbos_queue_bench_step"
BENCH_QUEUE_ENV = "DBOS_QUEUE_BENCH_QUEUE"
BENCH_URL_ENV = "DBOS_QUEUE_BENCH_URL"
BENCH_START_TIMEOUT = 60.0  # seconds for the bench workers to say "ready"


class UsageError(Exception):
    """Bad arguments found after parsing: reported with exit code 2."""


# --- values for output ----------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: datetimes, exceptions, UUIDs, Decimals as strings."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, BaseException):
        return exc_text(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        try:
            return jsonable(dump(mode="json"))
        except Exception:
            pass
    return str(value)


def exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as UTC ISO-8601 text (second precision), for tables."""
    if ms is None:
        return None
    t = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def short(value: Any, width: int = 48) -> str | None:
    """A value as compact JSON text, cut to ``width`` characters for a table cell."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(jsonable(value), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def status_dict(st: Any) -> dict[str, Any]:
    """A WorkflowStatus as a JSON-ready dict (DBOS's field names)."""
    return {f.name: jsonable(getattr(st, f.name)) for f in dataclasses.fields(st)}


def print_json(data: Any) -> None:
    print(json.dumps(jsonable(data), default=str))


def table(rows: list[dict[str, Any]]) -> None:
    from dbos_queue.cli.main import _table

    _table(argparse.Namespace(json=False), rows)


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"dbos-queue: {message}", file=sys.stderr)
    return code


# --- argument parsing helpers -----------------------------------------------------------


def parse_json_arg(text: str | None, flag: str, kind: type) -> Any:
    """A JSON array (``kind=list``) or object (``kind=dict``) given on the command line."""
    if text is None:
        return kind()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        want = "array, e.g. '[1, \"a\"]'" if kind is list else "object, e.g. '{\"k\": 1}'"
        raise UsageError(f"{flag} must be a JSON {want}; got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    for kind, name in (
        (dict, "an object"),
        (list, "an array"),
        (str, "a string"),
        ((int, float), "a number"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s``, ``500ms``, ``2w`` or plain seconds, as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", text.lower())
    if m is None or m.group(2) not in ("", *_UNITS):
        raise UsageError(f"expected a duration like 7d, 12h, 30m, 45s or seconds; got {text!r}")
    return float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1)


def parse_time(text: str | None, flag: str) -> str | None:
    if text is None:
        return None
    try:
        _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} takes an ISO-8601 time such as 2025-01-31T12:00:00Z; got {text!r}"
        ) from None
    return text


def flat(values: Sequence[Any] | None) -> list[str] | None:
    """Flatten ``--status A,B --status C`` into one list (None when not given)."""
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(v if isinstance(v, list) else [v])
    return out


def client_for(args: argparse.Namespace) -> Any:
    """A DBOSClient; an unreachable database fails at once (exit 3), not after pool retries."""
    import psycopg

    from dbos_queue.api.client import DBOSClient
    from dbos_queue.cli.main import resolve_url
    from dbos_queue.model.pgurl import normalize

    url = resolve_url(args)
    psycopg.connect(normalize(url), connect_timeout=10).close()
    return DBOSClient(url)


def is_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def chunks(items: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- enqueue ------------------------------------------------------------------------------


def cmd_enqueue(args: argparse.Namespace) -> int:
    from dbos_queue.api.client import EnqueueOptions

    wf_args = parse_json_arg(args.args, "--args", list)
    wf_kwargs = parse_json_arg(args.kwargs, "--kwargs", dict)
    if args.priority is not None and not 0 <= args.priority <= 2**31 - 1:
        raise UsageError(f"--priority must be from 0 to 2147483647; got {args.priority}")
    if args.delay is not None and args.delay < 0:
        raise UsageError(f"--delay must not be negative; got {args.delay}")
    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout only applies with --wait")
    options: EnqueueOptions = {"queue_name": args.queue, "workflow_name": args.workflow}
    if args.id:
        options["workflow_id"] = args.id
    if args.priority:
        options["priority"] = args.priority
    if args.dedup:
        options["deduplication_id"] = args.dedup
    if args.partition:
        options["queue_partition_key"] = args.partition
    if args.delay:
        options["delay_seconds"] = args.delay
    with client_for(args) as client:
        wf_id = client.enqueue(options, *wf_args, **wf_kwargs).workflow_id
        if not args.wait:
            if is_json(args):
                print_json({"workflow_id": wf_id, "queue_name": args.queue, "name": args.workflow})
            else:
                print(wf_id)
            return EXIT_OK
        return _wait_and_print(args, client, wf_id)


_TIMED_OUT = object()


def _wait_and_print(args: argparse.Namespace, client: Any, wf_id: str) -> int:
    from dbos_queue.engine import core as _core
    from dbos_queue.error import DBOSBaseException

    async def wait() -> Any:  # the timeout comes back as a value, not as TimeoutError
        try:
            return await _core.await_result(client, wf_id, args.timeout)
        except TimeoutError:
            return _TIMED_OUT

    try:
        output = client.engine.run(wait())
        if output is _TIMED_OUT:
            raise TimeoutError
    except TimeoutError:
        st = client.get_workflow(wf_id)
        status = st.status if st is not None else "UNKNOWN"
        if is_json(args):
            print_json({"workflow_id": wf_id, "status": status, "output": None, "error": None})
        return fail(
            f"workflow {wf_id} did not finish within {args.timeout:g}s "
            f"(status {status}); it keeps running"
        )
    except (Exception, DBOSBaseException) as exc:
        st = client.get_workflow(wf_id)
        if st is None or st.status not in ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
            raise  # not the workflow's outcome (e.g. the database went away)
        error = st.error if st.error is not None else exc
        if is_json(args):
            print_json(
                {
                    "workflow_id": wf_id,
                    "status": st.status,
                    "output": None,
                    "error": exc_text(error),
                }
            )
        return fail(f"workflow {wf_id} ended {st.status}: {exc_text(error)}")
    if is_json(args):
        print_json({"workflow_id": wf_id, "status": "SUCCESS", "output": output, "error": None})
    else:
        print(json.dumps(jsonable(output), default=str))
    return EXIT_OK


# --- workflow ------------------------------------------------------------------------------


def cmd_workflow(args: argparse.Namespace) -> int:
    handler = {
        "list": wf_list,
        "get": wf_get,
        "steps": wf_steps,
        "cancel": wf_cancel,
        "resume": wf_resume,
        "fork": wf_fork,
        "gc": wf_gc,
    }[args.workflow_command]
    _filters(args)  # bad filter values are usage errors, found before connecting
    with client_for(args) as client:
        return handler(args, client)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if flat(getattr(args, "status", None)):
        filters["status"] = flat(args.status)
    if getattr(args, "name", None):
        filters["name"] = args.name
    if getattr(args, "queue", None):
        filters["queue_name"] = args.queue
    if getattr(args, "prefix", None):
        filters["workflow_id_prefix"] = args.prefix
    since = parse_time(getattr(args, "since", None), "--since")
    until = parse_time(getattr(args, "until", None), "--until")
    if since:
        filters["start_time"] = since
    if until:
        filters["end_time"] = until
    return filters


def _list(client: Any, **kw: Any) -> list[Any]:
    from dbos_queue.ops import management as mgmt

    return client.engine.run(mgmt.list_workflows(client, **kw))


def _get(client: Any, wf_id: str) -> Any:
    return client.get_workflow(wf_id)


def _not_found(wf_id: str) -> int:
    return fail(f"no workflow with id {wf_id!r}")


def wf_list(args: argparse.Namespace, client: Any) -> int:
    if args.limit < 0 or args.offset < 0:
        raise UsageError("--limit and --offset must not be negative")
    filters = _filters(args)
    rows = _list(
        client,
        sort_desc=args.desc,
        load_input=is_json(args),
        load_output=is_json(args),
        limit=args.limit or None,
        offset=args.offset,
        **filters,
    )
    if is_json(args):
        print_json([status_dict(st) for st in rows])
        return EXIT_OK
    table(
        [
            {
                "workflow_id": st.workflow_id,
                "status": st.status,
                "name": st.name,
                "queue": st.queue_name,
                "created": iso(st.created_at),
                "updated": iso(st.updated_at),
                "executor": st.executor_id,
            }
            for st in rows
        ]
    )
    if args.limit and len(rows) == args.limit:
        print(f"(first {args.limit}; --limit 0 shows all, --offset pages)", file=sys.stderr)
    return EXIT_OK


def wf_get(args: argparse.Namespace, client: Any) -> int:
    st = _get(client, args.workflow_id)
    if st is None:
        return _not_found(args.workflow_id)
    if is_json(args):
        print_json(status_dict(st))
        return EXIT_OK
    started = st.dequeued_at
    fields = [
        ("workflow_id", st.workflow_id),
        ("status", st.status),
        ("name", st.name),
        ("class_name", st.class_name),
        ("config_name", st.config_name),
        ("queue", st.queue_name),
        ("priority", st.priority),
        ("partition_key", st.queue_partition_key),
        ("deduplication_id", st.deduplication_id),
        ("executor", st.executor_id),
        ("app_version", st.app_version),
        ("attempts", st.recovery_attempts),
        ("forked_from", st.forked_from),
        ("created", iso(st.created_at)),
        ("started", iso(started)),
        ("updated", iso(st.updated_at)),
        ("deadline", iso(st.workflow_deadline_epoch_ms)),
        ("input", short(st.input, 200)),
        ("output", short(st.output, 200)),
        ("error", exc_text(st.error) if st.error is not None else None),
    ]
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        if value is not None or key in ("queue", "output", "error"):
            print(f"{key.ljust(width)}  {'-' if value is None else value}")
    return EXIT_OK


def wf_steps(args: argparse.Namespace, client: Any) -> int:
    if _get(client, args.workflow_id) is None:
        return _not_found(args.workflow_id)
    steps = client.list_workflow_steps(args.workflow_id)
    if is_json(args):
        print_json(steps)
        return EXIT_OK
    rows = []
    for s in steps:
        start, end = s.get("started_at_epoch_ms"), s.get("completed_at_epoch_ms")
        rows.append(
            {
                "step": s["function_id"],
                "name": s["function_name"],
                "output": short(s["output"]) if s["error"] is None else None,
                "error": short(exc_text(s["error"])) if s["error"] is not None else None,
                "child": s["child_workflow_id"],
                "started": iso(start),
                "ms": end - start if start is not None and end is not None else None,
            }
        )
    table(rows)
    return EXIT_OK


def _target_ids(
    args: argparse.Namespace, client: Any, default_statuses: list[str], verb: str
) -> tuple[list[str], bool]:
    """The ids given, or those the filters select; (ids, by_filter)."""
    filters = _filters(args)
    if args.workflow_ids and filters:
        raise UsageError(f"give workflow ids or filters to {verb}, not both")
    if args.workflow_ids:
        return list(dict.fromkeys(args.workflow_ids)), False
    if not filters:
        raise UsageError(
            f"name the workflows to {verb}: ids, or filters such as --status ENQUEUED --queue NAME"
        )
    filters.setdefault("status", default_statuses)
    rows = _list(client, load_input=False, load_output=False, **filters)
    return [st.workflow_id for st in rows], True


def _statuses(client: Any, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for batch in chunks(ids):
        for st in _list(client, workflow_ids=list(batch), load_input=False, load_output=False):
            found[st.workflow_id] = st.status
    return found


def _report(
    args: argparse.Namespace,
    verb: str,
    done: list[str],
    requested: list[str],
    skipped: dict[str, str],
    missing: list[str],
    by_filter: bool,
) -> int:
    if is_json(args):
        print_json(
            {
                verb: done,
                "skipped": [{"workflow_id": k, "status": v} for k, v in skipped.items()],
                "not_found": missing,
            }
        )
    else:
        noun = "workflow" if len(done) == 1 else "workflows"
        if not by_filter and len(requested) == 1 and len(done) == 1 and done[0] == requested[0]:
            print(f"{verb} {done[0]}")
        else:
            print(f"{verb} {len(done)} {noun}" + (" (matching the filters)" if by_filter else ""))
        for wf_id, status in list(skipped.items())[:20]:
            print(f"  {wf_id}: {status}; nothing to do")
        if len(skipped) > 20:
            print(f"  ... and {len(skipped) - 20} more skipped")
    for wf_id in missing:
        print(f"dbos-queue: no workflow with id {wf_id!r}", file=sys.stderr)
    return EXIT_FAILED if missing else EXIT_OK


def wf_cancel(args: argparse.Namespace, client: Any) -> int:
    from dbos_queue.cli.progress import Progress
    from dbos_queue.ops import management as mgmt

    ids, by_filter = _target_ids(args, client, UNFINISHED, "cancel")
    missing: list[str] = []
    if not by_filter:
        known = _statuses(client, ids)
        missing = [i for i in ids if i not in known]
        ids = [i for i in ids if i in known]
    cancelled: list[str] = []
    with Progress(len(ids), "cancel", enabled=not is_json(args) and len(ids) > 1) as bar:
        for batch in chunks(ids):
            cancelled += client.engine.run(mgmt.cancel(client, list(batch), args.children))
            bar.advance(len(batch))
    done = set(cancelled)
    skipped = _statuses(client, [i for i in ids if i not in done])
    return _report(args, "cancelled", cancelled, ids, skipped, missing, by_filter)


def wf_resume(args: argparse.Namespace, client: Any) -> int:
    from dbos_queue.cli.progress import Progress
    from dbos_queue.error import DBOSNonExistentWorkflowError
    from dbos_queue.ops import management as mgmt

    ids, by_filter = _target_ids(args, client, RESUMABLE, "resume")
    resumed: list[str] = []
    missing: list[str] = []
    not_resumed: list[str] = []

    async def resume_batch(batch: Sequence[str]) -> list[Any]:  # one statement per id
        return await asyncio.gather(
            *(mgmt.resume(client, i, args.to_queue) for i in batch), return_exceptions=True
        )

    with Progress(len(ids), "resume", enabled=not is_json(args) and len(ids) > 1) as bar:
        for batch in chunks(ids, 50):
            for wf_id, ok in zip(batch, client.engine.run(resume_batch(batch))):
                if isinstance(ok, DBOSNonExistentWorkflowError):
                    missing.append(wf_id)
                elif isinstance(ok, BaseException):
                    raise ok
                else:
                    (resumed if ok else not_resumed).append(wf_id)
            bar.advance(len(batch))
    skipped = _statuses(client, not_resumed)
    return _report(args, "resumed", resumed, ids, skipped, missing, by_filter)


def wf_fork(args: argparse.Namespace, client: Any) -> int:
    from dbos_queue.error import DBOSNonExistentWorkflowError
    from dbos_queue.ops import management as mgmt

    if args.step < 1:
        raise UsageError(f"--step counts from 1; got {args.step}")
    try:
        new_id = client.engine.run(
            mgmt.fork(
                client,
                args.workflow_id,
                args.step,
                new_id=args.id,
                app_version=args.app_version,
                queue_name=args.to_queue,
            )
        )
    except DBOSNonExistentWorkflowError:
        return _not_found(args.workflow_id)
    if is_json(args):
        print_json(
            {"workflow_id": new_id, "forked_from": args.workflow_id, "start_step": args.step}
        )
    else:
        print(new_id)
    return EXIT_OK


def wf_gc(args: argparse.Namespace, client: Any) -> int:
    from dbos_queue.ops import management as mgmt

    if args.older_than is None and args.keep is None:
        raise UsageError("workflow gc needs --older-than DURATION (e.g. 7d) and/or --keep N")
    older = parse_duration(args.older_than) if args.older_than is not None else None
    if args.keep is not None and args.keep < 1:
        raise UsageError(
            "--keep must be at least 1 (use --older-than 0 to delete every finished workflow)"
        )
    deleted = client.engine.run(
        mgmt.garbage_collect(client, older_than_sec=older, keep_rows=args.keep)
    )
    if is_json(args):
        print_json({"deleted": deleted})
    else:
        print(f"deleted {deleted} finished workflow{'' if deleted == 1 else 's'}")
    return EXIT_OK


# --- schedule -----------------------------------------------------------------------------


def cmd_schedule(args: argparse.Namespace) -> int:
    from dbos_queue.queue.schedules import delete_schedule, get_schedule, list_schedules

    with client_for(args) as client:
        run = client.engine.run
        if args.schedule_command == "list":
            filters = {
                key: value
                for key, value in (
                    ("status", flat(args.status)),
                    ("workflow_name", args.workflow),
                    ("schedule_name_prefix", args.prefix),
                    ("kind", args.kind),
                )
                if value
            }
            rows = [jsonable(r) for r in run(list_schedules(client, **filters))]
            if is_json(args):
                print_json(rows)
                return EXIT_OK
            cols = {
                "name": "schedule_name",
                "workflow": "workflow_name",
                "cron": "schedule",
                "timezone": "cron_timezone",
                "status": "status",
                "queue": "queue_name",
                "last_fired_at": "last_fired_at",
                "kind": "kind",
            }
            table([{head: short(r.get(key), 60) for head, key in cols.items()} for r in rows])
            return EXIT_OK
        existing = run(get_schedule(client, args.name)) if get_schedule is not None else {}
        if existing is None or run(delete_schedule(client, args.name)) is False:
            return fail(f"no schedule named {args.name!r}")
        if is_json(args):
            print_json({"deleted": args.name})
        else:
            print(f"deleted schedule {args.name}")
            if (existing or {}).get("kind") == "decorator":
                print(
                    "note: it is declared with @DBOS.scheduled; a process declaring it "
                    "re-creates it when it launches",
                    file=sys.stderr,
                )
        return EXIT_OK


# --- bench --------------------------------------------------------------------------------


class _BenchWorker:
    """One ``dbos-queue worker dbos_queue.cli.ops`` process serving the bench queue."""

    def __init__(self, url: str, queue: str, index: int, token: str) -> None:
        import subprocess
        import tempfile

        env = dict(os.environ, **{BENCH_QUEUE_ENV: queue, BENCH_URL_ENV: url})
        self.log = tempfile.TemporaryFile(mode="w+", prefix="dbos-queue-bench-")
        cmd = [
            sys.executable,
            "-m",
            "dbos_queue.cli",
            "worker",
            "dbos_queue.cli.ops",
            "--queue",
            queue,
            "--no-admin",
            "--drain-timeout",
            "10",
            "--executor-id",
            f"bench-{token}-{index}",
        ]
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def wait_ready(self, deadline: float) -> None:
        import select

        assert self.proc.stdout is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(
                    f"bench worker pid {self.proc.pid} did not start in time{self.tail()}"
                )
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if ready:
                line = self.proc.stdout.readline()
                if "ready" in line:
                    return
                if not line:  # exited
                    self.proc.wait(timeout=10)
                    raise RuntimeError(
                        f"bench worker exited with code {self.proc.returncode}{self.tail()}"
                    )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, chars: int = 2000) -> str:
        try:
            self.log.seek(0)
            text = self.log.read()[-chars:].strip()
        except (OSError, ValueError):
            return ""
        return f":\n{text}" if text else ""

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> None:
        import subprocess

        self.terminate()
        try:
            self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        self.log.close()


_BENCH_COUNTS = """
SELECT count(*) FILTER (WHERE status = 'SUCCESS'),
       count(*) FILTER (WHERE status IN ('ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED'))
  FROM dbos.workflow_status WHERE queue_name = %s
"""


def cmd_bench(args: argparse.Namespace) -> int:
    from dbos_queue.cli.main import resolve_url
    from dbos_queue.cli.progress import Progress

    if args.n < 1 or args.workers < 1 or args.steps < 0:
        raise UsageError("bench needs --n >= 1, --workers >= 1 and --steps >= 0")
    url = resolve_url(args)
    token = uuid.uuid4().hex[:8]
    queue = f"dbos-queue-bench-{token}"
    quiet = is_json(args)
    if not quiet:
        print(
            f"bench: {args.n} workflows x {args.steps} step(s) on {args.workers} worker "
            f"process(es), queue {queue}",
            flush=True,
        )
    workers: list[_BenchWorker] = []
    with client_for(args) as client:
        run = client.engine.run
        try:
            # Workers first: they migrate the schema if needed and are idle when work arrives.
            workers = [_BenchWorker(url, queue, i, token) for i in range(args.workers)]
            deadline = time.monotonic() + BENCH_START_TIMEOUT
            for w in workers:
                w.wait_ready(deadline)
            options = {"queue_name": queue, "workflow_name": BENCH_WORKFLOW}
            start = time.monotonic()
            for first in range(0, args.n, 1000):
                batch = [(i, args.steps) for i in range(first, min(args.n, first + 1000))]
                client.enqueue_many(options, batch)  # type: ignore[arg-type]
            enqueued_s = time.monotonic() - start
            done = failed = 0
            last_change, last_done = time.monotonic(), -1
            with Progress(args.n, "bench", enabled=not quiet) as bar:
                bar.started = start
                while done + failed < args.n:
                    time.sleep(0.1)
                    done, failed = run(client.sysdb.fetchone(_BENCH_COUNTS, (queue,)))
                    bar.update(done + failed)
                    if done + failed != last_done:
                        last_change, last_done = time.monotonic(), done + failed
                    dead = [w for w in workers if not w.alive()]
                    if dead:
                        raise RuntimeError(
                            f"bench worker pid {dead[0].proc.pid} exited "
                            f"(code {dead[0].proc.returncode}){dead[0].tail()}"
                        )
                    if time.monotonic() - last_change > args.stall_timeout:
                        raise RuntimeError(
                            f"no bench workflow finished for "
                            f"{args.stall_timeout:g}s ({done + failed}/{args.n})"
                        )
            elapsed = time.monotonic() - start
        except RuntimeError as exc:
            return fail(str(exc))
        finally:
            for w in workers:  # SIGTERM all first: they drain in parallel
                w.terminate()
            for w in workers:
                w.stop()
            if not args.keep:
                run(
                    client.sysdb.execute(
                        "DELETE FROM dbos.workflow_status WHERE queue_name = %s", (queue,)
                    )
                )
                run(client.sysdb.execute("DELETE FROM dbos.queues WHERE name = %s", (queue,)))
    result = {
        "queue": queue,
        "n": args.n,
        "workers": args.workers,
        "steps": args.steps,
        "enqueue_seconds": round(enqueued_s, 4),
        "enqueued_per_second": round(args.n / enqueued_s, 1) if enqueued_s > 0 else None,
        "seconds": round(elapsed, 4),
        "workflows_per_second": round(args.n / elapsed, 1) if elapsed > 0 else None,
        "succeeded": done,
        "failed": failed,
    }
    if quiet:
        print_json(result)
    else:
        print(
            f"enqueued {args.n} in {enqueued_s:.3f}s "
            f"({result['enqueued_per_second'] or 0:,.0f}/s, enqueue_many)"
        )
        print(
            f"completed {done + failed} in {elapsed:.2f}s: "
            f"{result['workflows_per_second'] or 0:,.1f} workflows/s"
            + (f" ({failed} failed)" if failed else "")
        )
    return EXIT_FAILED if failed else EXIT_OK


# --- the bench worker app (only in a bench worker process) ---------------------------------

if os.environ.get(BENCH_QUEUE_ENV) and os.environ.get(BENCH_URL_ENV):
    from dbos_queue.api.dbos import DBOS
    from dbos_queue.api.queue import Queue

    @DBOS.step(name=BENCH_STEP)
    def bench_step(i: int, k: int) -> int:
        return i + k

    @DBOS.workflow(name=BENCH_WORKFLOW)
    def bench_workflow(i: int, steps: int) -> int:
        total = 0
        for k in range(steps):
            total += bench_step(i, k)
        return total

    DBOS(
        config={
            "name": "dbos-queue-bench",
            "system_database_url": os.environ[BENCH_URL_ENV],
            "log_level": "WARNING",
        }
    )
    Queue(os.environ[BENCH_QUEUE_ENV])
