"""``dbos-queue queue list|set|pause|resume`` and ``dbos-queue enqueue``."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from dbos_queue.cli.common import (
    EXIT_OK,
    DbUrlOpt,
    Globals,
    JsonOpt,
    client_for,
    fail,
    options,
    print_json,
    table,
)
from dbos_queue.cli.values import (
    NOT_GIVEN,
    UsageError,
    exc_text,
    jsonable,
    parse_json_arg,
    parse_limit,
    parse_rate,
)

app = typer.Typer(help="Inspect and tune queues.", no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The queue.")]


def _queue_rows(client: Any) -> list[dict[str, Any]]:
    from dbos_queue.db import sql as _sql

    run = client.engine.run
    stats = {r.queue_name: r for r in run(client.sysdb.fetchall(_sql.QUEUE_STATS))}
    rows: list[dict[str, Any]] = []
    for q in run(client.sysdb.fetchall(_sql.LIST_QUEUES)):
        st = stats.get(q.name)
        oldest = st.oldest if st is not None else None
        rows.append(
            {
                "name": q.name,
                "concurrency": q.global_concurrency,
                "worker_concurrency": q.worker_concurrency,
                "rate": (
                    f"{q.rate_limit_max}/{q.rate_limit_period_sec:g}s" if q.rate_limit_max else None
                ),
                "partition_concurrency": q.partition_concurrency,
                "paused": q.paused,
                "source": q.source,
                "depth": st.depth if st is not None else 0,
                "running": st.running if st is not None else 0,
                "delayed": st.delayed if st is not None else 0,
                "oldest_age_s": round(time.time() - oldest / 1000, 3) if oldest else None,
            }
        )
    return rows


@app.command("list")
def list_cmd(ctx: typer.Context, json_out: JsonOpt = False, db_url: DbUrlOpt = None) -> int:
    """Every queue: limits, depth, running, delayed, oldest age."""
    opts = options(ctx, json_out, db_url)
    with client_for(opts) as client:
        rows = _queue_rows(client)
    if opts.json:
        print(json.dumps(rows, default=str))
    else:
        table(rows, title="queues")
    return EXIT_OK


def _apply(opts: Globals, name: str, verb: str, **changes: Any) -> int:
    from dbos_queue.queue.claim import set_queue_limits

    with client_for(opts) as client:
        if not client.engine.run(set_queue_limits(client.sysdb, name, **changes)):
            return fail(f"no queue named {name!r}")
    print(f"queue {name}: {verb} applied; workers follow within a second")
    return EXIT_OK


@app.command("set")
def set_cmd(
    ctx: typer.Context,
    name: NameArg,
    concurrency: Annotated[
        str | None, typer.Option(metavar="N", help="Fleet-wide concurrency ('none' clears it).")
    ] = None,
    worker_concurrency: Annotated[
        str | None, typer.Option(metavar="N", help="Per-process concurrency ('none' clears it).")
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(metavar="LIMIT/SECONDS", help="Rate limit, e.g. 100/1 ('none' clears it)."),
    ] = None,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Change a queue's limits at runtime; running workers follow within a second."""
    given = {
        "global_concurrency": parse_limit(concurrency, "--concurrency"),
        "worker_concurrency": parse_limit(worker_concurrency, "--worker-concurrency"),
        "limiter": parse_rate(rate),
    }
    changes = {key: value for key, value in given.items() if value is not NOT_GIVEN}
    return _apply(options(ctx, json_out, db_url), name, "set", **changes)


@app.command("pause")
def pause_cmd(
    ctx: typer.Context, name: NameArg, json_out: JsonOpt = False, db_url: DbUrlOpt = None
) -> int:
    """Stop claiming from a queue (running workflows go on)."""
    return _apply(options(ctx, json_out, db_url), name, "pause", paused=True)


@app.command("resume")
def resume_cmd(
    ctx: typer.Context, name: NameArg, json_out: JsonOpt = False, db_url: DbUrlOpt = None
) -> int:
    """Claim from a paused queue again."""
    return _apply(options(ctx, json_out, db_url), name, "resume", paused=False)


# --- enqueue ------------------------------------------------------------------------------


def enqueue(
    ctx: typer.Context,
    queue: Annotated[str, typer.Argument(metavar="QUEUE")],
    workflow: Annotated[str, typer.Argument(metavar="WORKFLOW", help="The registered name.")],
    args: Annotated[
        str | None, typer.Option(metavar="JSON", help="Positional arguments as a JSON array.")
    ] = None,
    kwargs: Annotated[
        str | None, typer.Option(metavar="JSON", help="Keyword arguments as a JSON object.")
    ] = None,
    wf_id: Annotated[
        str | None,
        typer.Option("--id", help="Workflow id (default: a new UUID; an existing id: no-op)."),
    ] = None,
    priority: Annotated[int | None, typer.Option(help="0 (first) .. 2147483647.")] = None,
    dedup: Annotated[str | None, typer.Option(metavar="ID", help="Deduplication id.")] = None,
    partition: Annotated[
        str | None, typer.Option(metavar="KEY", help="Queue partition key.")
    ] = None,
    delay: Annotated[
        float | None, typer.Option(metavar="S", help="Start no earlier than S seconds.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait; print the result as JSON.")] = False,
    timeout: Annotated[
        float | None, typer.Option(metavar="S", help="With --wait: give up after S seconds.")
    ] = None,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Enqueue a workflow by name; print its id.

    A worker that declares both QUEUE and WORKFLOW runs it. With --wait, print its
    result as JSON instead.
    """
    from dbos_queue.api.client import EnqueueOptions

    opts = options(ctx, json_out, db_url)
    wf_args = parse_json_arg(args, "--args", list)
    wf_kwargs = parse_json_arg(kwargs, "--kwargs", dict)
    _check_enqueue(priority, delay, timeout, wait)
    extra = {
        "workflow_id": wf_id,
        "priority": priority,
        "deduplication_id": dedup,
        "queue_partition_key": partition,
        "delay_seconds": delay,
    }
    enqueue_options: EnqueueOptions = {"queue_name": queue, "workflow_name": workflow}
    enqueue_options.update({k: v for k, v in extra.items() if v})  # type: ignore[typeddict-item]
    with client_for(opts) as client:
        handle = client.enqueue(enqueue_options, *wf_args, **wf_kwargs)
        if not wait:
            if opts.json:
                print_json(
                    {"workflow_id": handle.workflow_id, "queue_name": queue, "name": workflow}
                )
            else:
                print(handle.workflow_id)
            return EXIT_OK
        return _wait_and_print(opts, client, handle.workflow_id, timeout)


def _check_enqueue(
    priority: int | None, delay: float | None, timeout: float | None, wait: bool
) -> None:
    if priority is not None and not 0 <= priority <= 2**31 - 1:
        raise UsageError(f"--priority must be from 0 to 2147483647; got {priority}")
    if delay is not None and delay < 0:
        raise UsageError(f"--delay must not be negative; got {delay}")
    if timeout is not None and not wait:
        raise UsageError("--timeout only applies with --wait")


_TIMED_OUT = object()


def _wait_and_print(opts: Globals, client: Any, wf_id: str, timeout: float | None) -> int:
    from dbos_queue.engine import core as _core
    from dbos_queue.error import DBOSBaseException

    async def wait() -> Any:  # the timeout comes back as a value, not as TimeoutError
        try:
            return await _core.await_result(client, wf_id, timeout)
        except TimeoutError:
            return _TIMED_OUT

    try:
        output = client.engine.run(wait())
    except (Exception, DBOSBaseException) as exc:
        st = client.get_workflow(wf_id)
        if st is None or st.status not in ("ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"):
            raise  # not the workflow's outcome (e.g. the database went away)
        error = exc_text(st.error if st.error is not None else exc)
        if opts.json:
            print_json({"workflow_id": wf_id, "status": st.status, "output": None, "error": error})
        return fail(f"workflow {wf_id} ended {st.status}: {error}")
    if output is _TIMED_OUT:
        st = client.get_workflow(wf_id)
        status = st.status if st is not None else "UNKNOWN"
        if opts.json:
            print_json({"workflow_id": wf_id, "status": status, "output": None, "error": None})
        return fail(
            f"workflow {wf_id} did not finish within {timeout:g}s (status {status}); "
            "it keeps running"
        )
    if opts.json:
        print_json({"workflow_id": wf_id, "status": "SUCCESS", "output": output, "error": None})
    else:
        print(json.dumps(jsonable(output), default=str))
    return EXIT_OK
