"""``dbos-queue workflow list|get|steps|cancel|resume|fork|gc``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dbos_queue.cli import wf_bulk
from dbos_queue.cli.bars import Bar
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
    STATUSES,
    UsageError,
    exc_text,
    iso,
    parse_duration,
    short,
    status_dict,
)
from dbos_queue.cli.wf_bulk import Filters

app = typer.Typer(
    help="List, inspect, cancel, resume, fork and garbage-collect workflows.",
    no_args_is_help=True,
)


def _complete_status(incomplete: str) -> list[str]:
    return [s for s in STATUSES if s.startswith(incomplete.upper())]


def _status_opt(help_text: str) -> Any:
    return typer.Option(
        "--status",
        metavar="STATUS",
        help=f"{help_text} (repeat, or comma-separate; any case).",
        autocompletion=_complete_status,
    )


StatusOpt = Annotated[list[str] | None, _status_opt("Only these statuses")]
FilterStatusOpt = Annotated[list[str] | None, _status_opt("Filter: statuses")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Workflow function name.")]
QueueOpt = Annotated[str | None, typer.Option("--queue", help="Queue name.")]
ToQueueOpt = Annotated[
    str | None, typer.Option("--to-queue", help="Run from this queue (default: any worker).")
]
IdsArg = Annotated[list[str] | None, typer.Argument(metavar="[ID]...", show_default=False)]
IdArg = Annotated[str, typer.Argument(metavar="WORKFLOW_ID")]


def _client(ctx: typer.Context, json_out: bool, db_url: str | None) -> tuple[Globals, Any]:
    opts = options(ctx, json_out, db_url)
    return opts, client_for(opts)


def _not_found(wf_id: str) -> int:
    return fail(f"no workflow with id {wf_id!r}")


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: StatusOpt = None,
    name: NameOpt = None,
    queue: QueueOpt = None,
    prefix: Annotated[str | None, typer.Option(help="Workflow id prefix.")] = None,
    since: Annotated[
        str | None, typer.Option(metavar="ISO", help="Created at or after (ISO-8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="ISO", help="Created at or before (ISO-8601).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most N rows (0: all).", metavar="N")] = 100,
    offset: Annotated[int, typer.Option(help="Skip the first N rows.", metavar="N")] = 0,
    desc: Annotated[bool, typer.Option("--desc", help="Newest first.")] = False,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Workflows matching filters: a table, or --json."""
    opts = options(ctx, json_out, db_url)
    if limit < 0 or offset < 0:
        raise UsageError("--limit and --offset must not be negative")
    kw = Filters(status, name, queue, prefix, since, until).as_kwargs()  # before connecting
    with client_for(opts) as client:
        rows = wf_bulk.list_workflows(
            client,
            sort_desc=desc,
            load_input=opts.json,
            load_output=opts.json,
            limit=limit or None,
            offset=offset,
            **kw,
        )
    if opts.json:
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
        ],
        title="workflows",
    )
    if limit and len(rows) == limit:
        print(f"(first {limit}; --limit 0 shows all, --offset pages)", file=sys.stderr)
    return EXIT_OK


def _fields(st: Any) -> list[tuple[str, Any]]:
    return [
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
        ("started", iso(st.dequeued_at)),
        ("updated", iso(st.updated_at)),
        ("deadline", iso(st.workflow_deadline_epoch_ms)),
        ("input", short(st.input, 200)),
        ("output", short(st.output, 200)),
        ("error", exc_text(st.error) if st.error is not None else None),
    ]


@app.command("get")
def get_cmd(
    ctx: typer.Context, workflow_id: IdArg, json_out: JsonOpt = False, db_url: DbUrlOpt = None
) -> int:
    """One workflow's status, input, output and error."""
    opts, client = _client(ctx, json_out, db_url)
    with client:
        st = client.get_workflow(workflow_id)
    if st is None:
        return _not_found(workflow_id)
    if opts.json:
        print_json(status_dict(st))
        return EXIT_OK
    fields = _fields(st)
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        if value is not None or key in ("queue", "output", "error"):
            print(f"{key.ljust(width)}  {'-' if value is None else value}")
    return EXIT_OK


@app.command("steps")
def steps_cmd(
    ctx: typer.Context, workflow_id: IdArg, json_out: JsonOpt = False, db_url: DbUrlOpt = None
) -> int:
    """One workflow's recorded steps."""
    opts, client = _client(ctx, json_out, db_url)
    with client:
        if client.get_workflow(workflow_id) is None:
            return _not_found(workflow_id)
        steps = client.list_workflow_steps(workflow_id)
    if opts.json:
        print_json(steps)
        return EXIT_OK
    rows: list[dict[str, Any]] = []
    for s in steps:
        start, end = s.get("started_at_epoch_ms"), s.get("completed_at_epoch_ms")
        failed = s["error"] is not None
        rows.append(
            {
                "step": s["function_id"],
                "name": s["function_name"],
                "output": None if failed else short(s["output"]),
                "error": short(exc_text(s["error"])) if failed else None,
                "child": s["child_workflow_id"],
                "started": iso(start),
                "ms": end - start if start is not None and end is not None else None,
            }
        )
    table(rows, title=f"steps of {workflow_id}")
    return EXIT_OK


@app.command("cancel")
def cancel_cmd(
    ctx: typer.Context,
    workflow_ids: IdsArg = None,
    children: Annotated[
        bool, typer.Option("--children", help="Cancel child workflows too.")
    ] = False,
    status: FilterStatusOpt = None,
    queue: QueueOpt = None,
    name: NameOpt = None,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Cancel workflows by id, or every one matching filters.

    A running workflow stops at its next step. With filters, e.g. --status ENQUEUED
    --queue emails cancels that queue's backlog (without --status: ENQUEUED, DELAYED
    and PENDING). Finished workflows are reported and skipped.
    """
    filters = Filters(status=status, queue=queue, name=name)
    filters.as_kwargs()  # bad filter values are usage errors, found before connecting
    opts, client = _client(ctx, json_out, db_url)
    with client:
        return wf_bulk.cancel(opts, client, workflow_ids or [], filters, children)


@app.command("resume")
def resume_cmd(
    ctx: typer.Context,
    workflow_ids: IdsArg = None,
    status: FilterStatusOpt = None,
    queue: QueueOpt = None,
    name: NameOpt = None,
    to_queue: ToQueueOpt = None,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Resume workflows by id, or every one matching filters.

    Cancelled, failed or dead-lettered workflows continue from their last recorded
    step (any worker runs them). Without --status the filters select CANCELLED, ERROR
    and MAX_RECOVERY_ATTEMPTS_EXCEEDED. Successful or running workflows are reported
    and skipped.
    """
    filters = Filters(status=status, queue=queue, name=name)
    filters.as_kwargs()
    opts, client = _client(ctx, json_out, db_url)
    with client:
        return wf_bulk.resume(opts, client, workflow_ids or [], filters, to_queue)


@app.command("fork")
def fork_cmd(
    ctx: typer.Context,
    workflow_id: IdArg,
    step: Annotated[int, typer.Option(help="First step to re-run (from 1).")] = 1,
    new_id: Annotated[
        str | None, typer.Option("--id", help="Id for the new workflow (default: a new UUID).")
    ] = None,
    app_version: Annotated[
        str | None, typer.Option(help="Application version for the new workflow.")
    ] = None,
    to_queue: ToQueueOpt = None,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Re-run a workflow from a step, as a new workflow."""
    from dbos_queue.error import DBOSNonExistentWorkflowError
    from dbos_queue.ops import management as mgmt

    if step < 1:
        raise UsageError(f"--step counts from 1; got {step}")
    opts, client = _client(ctx, json_out, db_url)
    with client:
        try:
            fork = mgmt.fork(
                client,
                workflow_id,
                step,
                new_id=new_id,
                app_version=app_version,
                queue_name=to_queue,
            )
            forked = client.engine.run(fork)
        except DBOSNonExistentWorkflowError:
            return _not_found(workflow_id)
    if opts.json:
        print_json({"workflow_id": forked, "forked_from": workflow_id, "start_step": step})
    else:
        print(forked)
    return EXIT_OK


@app.command("gc")
def gc_cmd(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Finished workflows created longer ago than this (7d, 12h, 30m, 45s).",
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(metavar="N", help="Keep the newest N workflows; delete older finished ones."),
    ] = None,
    json_out: JsonOpt = False,
    db_url: DbUrlOpt = None,
) -> int:
    """Delete old finished workflows.

    Finished means SUCCESS, ERROR, CANCELLED or dead-lettered; their steps, events and
    messages go with them. Unfinished workflows are never deleted.
    """
    if older_than is None and keep is None:
        raise UsageError("workflow gc needs --older-than DURATION (e.g. 7d) and/or --keep N")
    older = parse_duration(older_than) if older_than is not None else None
    if keep is not None and keep < 1:
        raise UsageError(
            "--keep must be at least 1 (use --older-than 0 to delete every finished workflow)"
        )
    opts, client = _client(ctx, json_out, db_url)
    with client, Bar(None, "gc", enabled=not opts.json) as bar:
        for n in _gc_batches(client, older, keep):
            bar.advance(n)
    deleted = bar.done
    if opts.json:
        print_json({"deleted": deleted})
    else:
        print(f"deleted {deleted} finished workflow{'' if deleted == 1 else 's'}")
    return EXIT_OK


def _gc_batches(client: Any, older_than: float | None, keep: int | None) -> Any:
    """Rows deleted per statement: ``management.garbage_collect``'s statements, one batch
    at a time so the bar moves."""
    from dbos_queue.db import sql as _sql
    from dbos_queue.db.sysdb import now_ms

    run, execute = client.engine.run, client.sysdb.execute
    if older_than is not None:
        cutoff = now_ms() - int(older_than * 1000)
        while n := run(execute(_sql.GC_OLDER_THAN, {"cutoff": cutoff, "batch": 1000})):
            yield n
    if keep is not None:
        while n := run(execute(_sql.GC_KEEP_NEWEST, {"keep": keep, "batch": 1000})):
            yield n
