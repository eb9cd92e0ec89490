"""The DBOS 3.4.0 methods ``DBOS`` and ``DBOSClient`` share, each written once as a spec.

A spec (``api.twin``) has the method's DBOS parameters and docstring and returns the op
to run on a host — the launched runtime or a client: listing workflows and steps;
cancelling, resuming, forking, rewinding, deleting, delaying and labelling workflows;
waiting for an event; listing, reading and deleting schedules. Stream reads are
generators, or a read with a cleanup: their specs return the read's arguments, and
``stream_twins`` / ``offset_twins`` build them. ``DBOS`` runs the management ones as
recorded steps (``api/facade/management.py``), a client as they are (``api/client_ops.py``);
``shard_key`` is accepted for DBOS's signatures and routes nothing (no sharding).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, NamedTuple, ParamSpec, cast

from dbos_queue.api.twin import Method, On, Op, OpWith, as_method, async_doc, discarding
from dbos_queue.engine import comm as _comm
from dbos_queue.engine import streams as _streams
from dbos_queue.engine.context import WorkflowContext
from dbos_queue.model.records import WorkflowSchedule
from dbos_queue.model.status import WorkflowStatus
from dbos_queue.ops import listing
from dbos_queue.ops import management as mgmt
from dbos_queue.queue.schedules import manage as _manage

P = ParamSpec("P")
Many = str | list[str] | None
_Listed = Coroutine[Any, Any, list[WorkflowSchedule]]
_Found = Coroutine[Any, Any, WorkflowSchedule | None]


def list_workflows(
    *,
    workflow_ids: list[str] | None = None,
    status: str | list[str] | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
    completed_after: str | None = None,
    completed_before: str | None = None,
    dequeued_after: str | None = None,
    dequeued_before: str | None = None,
    name: str | list[str] | None = None,
    app_version: str | list[str] | None = None,
    forked_from: str | list[str] | None = None,
    parent_workflow_id: str | list[str] | None = None,
    user: str | list[str] | None = None,
    queue_name: str | list[str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    sort_desc: bool = False,
    workflow_id_prefix: str | list[str] | None = None,
    load_input: bool = True,
    load_output: bool = True,
    executor_id: str | list[str] | None = None,
    queues_only: bool = False,
    was_forked_from: bool | None = None,
    is_fork: bool | None = None,
    has_parent: bool | None = None,
    attributes: dict[str, Any] | None = None,
    schedule_name: str | list[str] | None = None,
    application_name: str | list[str] | None = None,
    shard_key: str | list[str] | None = None,
    parent_shard_key: str | list[str] | None = None,
) -> Op[list[WorkflowStatus]]:
    """Workflows matching every given filter, oldest first (``sort_desc``: newest).

    Lists (of names, queues, ...) match any of their values; ``workflow_id_prefix``
    may be several prefixes; times are ISO-8601 text; ``attributes`` matches
    workflows whose attributes contain all the given pairs.
    """
    filters = dict(locals())  # every filter by name
    return lambda h: listing.list_workflows(h, **filters)


def list_queued_workflows(
    *,
    workflow_ids: list[str] | None = None,
    status: str | list[str] | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
    completed_after: str | None = None,
    completed_before: str | None = None,
    dequeued_after: str | None = None,
    dequeued_before: str | None = None,
    name: str | list[str] | None = None,
    app_version: str | list[str] | None = None,
    forked_from: str | list[str] | None = None,
    parent_workflow_id: str | list[str] | None = None,
    user: str | list[str] | None = None,
    queue_name: str | list[str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    sort_desc: bool = False,
    workflow_id_prefix: str | list[str] | None = None,
    load_input: bool = True,
    load_output: bool = True,
    executor_id: str | list[str] | None = None,
    is_fork: bool | None = None,
    has_parent: bool | None = None,
    attributes: dict[str, Any] | None = None,
    application_name: str | list[str] | None = None,
    shard_key: str | list[str] | None = None,
    parent_shard_key: str | list[str] | None = None,
) -> Op[list[WorkflowStatus]]:
    """Workflows on a queue; unless ``status`` says otherwise, those waiting or running
    (ENQUEUED, DELAYED, PENDING)."""
    filters = dict(locals())  # every filter by name
    return lambda h: listing.list_queued_workflows(h, **filters)


def list_workflow_steps(
    workflow_id: str,
    *,
    load_output: bool = True,
    limit: int | None = None,
    offset: int | None = None,
    shard_key: str | None = None,
) -> Op[list[dict[str, Any]]]:
    """The recorded steps of a workflow (``StepInfo`` dicts), in step order."""
    return lambda h: listing.list_steps(
        h, workflow_id, load_output=load_output, limit=limit, offset=offset
    )


def cancel_workflow(
    workflow_id: str, *, cancel_children: bool = False, shard_key: str | None = None
) -> Op[None]:
    """Cancel: a queued workflow never runs; a running one stops at its next step."""
    return lambda h: discarding(mgmt.cancel(h, [workflow_id], cancel_children))


def cancel_workflows(
    workflow_ids: list[str], *, cancel_children: bool = False, shard_key: str | None = None
) -> Op[None]:
    """Cancel several workflows (with ``cancel_children``, everything they started)."""
    return lambda h: discarding(mgmt.cancel(h, list(workflow_ids), cancel_children))


def resume_workflow(
    workflow_id: str, *, queue_name: str | None = None, shard_key: str | None = None
) -> Op[None]:
    """Continue a workflow from its last recorded step (once, on ``queue_name`` if given);
    returns its handle."""
    return lambda h: discarding(mgmt.resume(h, workflow_id, queue_name))


def resume_workflows(
    workflow_ids: list[str], *, queue_name: str | None = None, shard_key: str | None = None
) -> Op[None]:
    """Resume several workflows at once; an unknown id raises before any is resumed."""
    return lambda h: discarding(mgmt.resume_many(h, workflow_ids, queue_name))


def fork_workflow(
    workflow_id: str,
    start_step: int,
    *,
    application_version: str | None = None,
    queue_name: str | None = None,
    queue_partition_key: str | None = None,
    replacement_children: dict[str, str] | None = None,
    timeout_seconds: float | None = None,
    shard_key: str | None = None,
) -> OpWith[str]:
    """Start a copy of a workflow that re-runs from ``start_step`` (earlier steps reused).

    The fork goes on ``queue_name`` (default: the internal queue) with
    ``queue_partition_key``, runs under ``application_version`` and ``timeout_seconds``
    when given, and uses ``replacement_children`` ({old child id: new}) for the
    children its copied steps started. Returns the fork's handle.
    """
    return functools.partial(
        mgmt.fork,
        workflow_id=workflow_id,
        start_step=start_step,
        app_version=application_version,
        queue_name=queue_name,
        queue_partition_key=queue_partition_key,
        replacement_children=replacement_children,
        timeout_seconds=timeout_seconds,
    )


def rewind_workflow(
    workflow_id: str,
    *,
    start_step: int | None = None,
    application_version: str | None = None,
    queue_name: str | None = None,
    queue_partition_key: str | None = None,
    shard_key: str | None = None,
) -> OpWith[None]:
    """Re-run a finished workflow in place (same id) from ``start_step`` (default 1)."""
    return functools.partial(
        mgmt.rewind,
        workflow_id=workflow_id,
        start_step=1 if start_step is None else start_step,
        app_version=application_version,
        queue_name=queue_name,
        queue_partition_key=queue_partition_key,
    )


def delete_workflow(
    workflow_id: str, *, delete_children: bool = False, shard_key: str | None = None
) -> Op[None]:
    """Delete a workflow and everything recorded for it (its children too, if asked)."""
    return lambda h: discarding(mgmt.delete(h, [workflow_id], delete_children))


def delete_workflows(
    workflow_ids: list[str], *, delete_children: bool = False, shard_key: str | None = None
) -> Op[None]:
    """Delete workflows; with ``delete_children``, every workflow they started, recursively."""
    return lambda h: discarding(mgmt.delete(h, list(workflow_ids), delete_children))


def set_workflow_delay(
    workflow_id: str,
    *,
    delay_seconds: float | None = None,
    delay_until_epoch_ms: int | None = None,
    shard_key: str | None = None,
) -> Op[None]:
    """Move a DELAYED workflow's start: ``delay_seconds`` from now, or to the absolute
    ``delay_until_epoch_ms`` (exactly one). Workflows in other states are left alone."""
    return lambda h: discarding(
        mgmt.set_delay(
            h, workflow_id, delay_seconds=delay_seconds, delay_until_epoch_ms=delay_until_epoch_ms
        )
    )


def update_workflow_attributes(
    workflow_id: str,
    attributes: dict[str, Any] | None,
    *,
    merge: bool = False,
    shard_key: str | None = None,
) -> Op[None]:
    """Replace a workflow's attributes (None clears them); with ``merge``, set only the
    given top-level keys and keep the others."""
    return lambda h: mgmt.update_attributes(h, workflow_id, attributes, merge=merge)


def get_event(
    workflow_id: str,
    key: str,
    timeout_seconds: float = 60,
    *,
    shard_key: str | None = None,
) -> OpWith[Any]:
    """Wait up to ``timeout_seconds`` for the workflow's event ``key`` (None if unset)."""

    def op(h: Any, ctx: WorkflowContext | None = None, fid: int = 0) -> Coroutine[Any, Any, Any]:
        # ctx, fid: the calling workflow and the step id the read takes (DBOS's, not a client's)
        return _comm.get_event(h, ctx, fid, workflow_id, key, timeout_seconds)

    return op


def list_schedules(
    *,
    status: Many = None,
    workflow_name: Many = None,
    schedule_name_prefix: Many = None,
    application_name: Many = None,
) -> Op[list[WorkflowSchedule]]:
    """Stored schedules (``WorkflowSchedule`` dicts), oldest first."""
    filters = dict(locals())
    # dicts with WorkflowSchedule's keys
    return lambda h: cast(_Listed, _manage.list_schedules(h, **filters))


def get_schedule(name: str) -> Op[WorkflowSchedule | None]:
    """The schedule named ``name``, or None."""
    return lambda h: cast(_Found, _manage.get_schedule(h, name))


def delete_schedule(name: str) -> Op[None]:
    """Delete a schedule (no tick of it fires afterwards)."""
    return lambda h: discarding(_manage.delete_schedule(h, name))


class StreamRead(NamedTuple):
    """A stream read's arguments, as ``read_stream`` / ``read_stream_offset`` took them."""

    workflow_id: str
    key: str
    offset: int
    polling_interval_sec: float | None
    timeout_seconds: float | None


def read_stream(
    workflow_id: str,
    key: str,
    *,
    offset: int = 0,
    polling_interval_sec: float | None = None,
    timeout_seconds: float | None = None,
    shard_key: str | None = None,
) -> StreamRead:
    """Yield the stream's values from ``offset`` until it is closed or the workflow ends;
    ``DBOSStreamTimeoutError`` when a value takes longer than ``timeout_seconds``. From a
    workflow each value read is a recorded step."""
    return StreamRead(workflow_id, key, offset, polling_interval_sec, timeout_seconds)


def read_stream_offset(
    workflow_id: str,
    key: str,
    offset: int,
    *,
    polling_interval_sec: float | None = None,
    timeout_seconds: float | None = None,
    shard_key: str | None = None,
) -> StreamRead:
    """The one value at ``offset``, waiting for it to be written; DBOSStreamTimeoutError
    after ``timeout_seconds``, or at once if the stream ended before that offset."""
    return StreamRead(workflow_id, key, offset, polling_interval_sec, timeout_seconds)


def stream_twins(
    spec: Callable[P, StreamRead], on: On, checkpoint: bool
) -> tuple[Method[P, Iterator[Any]], Method[P, AsyncIterator[Any]]]:
    """``read_stream`` and its async twin (an async generator); ``checkpoint``: each value
    read from a workflow is a recorded step (not for a client)."""

    def read(first: Any, /, *args: Any, **kwargs: Any) -> Iterator[Any]:
        a = spec(*args, **kwargs)
        yield from _streams.read_stream_sync(
            on.host(first),
            a.workflow_id,
            a.key,
            offset=a.offset,
            timeout_seconds=a.timeout_seconds,
            polling_interval_sec=a.polling_interval_sec,
            checkpoint=checkpoint,
        )

    async def read_async(first: Any, /, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        a = spec(*args, **kwargs)
        async for value in _streams.read_stream_async(
            on.host(first),
            a.workflow_id,
            a.key,
            offset=a.offset,
            timeout_seconds=a.timeout_seconds,
            polling_interval_sec=a.polling_interval_sec,
            checkpoint=checkpoint,
        ):
            yield value

    doc = "``read_stream`` from async code (an async generator)."
    return (
        as_method(read, spec, on, "read_stream"),
        as_method(read_async, spec, on, "read_stream_async", doc),
    )


def offset_twins(
    spec: Callable[P, StreamRead], on: On, checkpoint: bool
) -> tuple[Method[P, Any], Method[P, Coroutine[Any, Any, Any]]]:
    """``read_stream_offset`` and its async twin; a replayed read returns its recorded
    value without waiting (``checkpoint``: from a workflow the read is a recorded step)."""

    def begin(first: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any, bool, Any, Any]:
        """(host, reader, replayed, value, wait): ``wait()`` makes the read's coroutine."""
        a = spec(*args, **kwargs)
        _streams.check_args(a.timeout_seconds, a.polling_interval_sec)
        host = on.host(first)
        r, done, value = _streams.reader(host, a.workflow_id, a.key, a.offset, checkpoint)
        poll, timeout = a.polling_interval_sec, a.timeout_seconds
        return host, r, done, value, lambda: _streams.read_offset(r, a.offset, timeout, poll)

    def read(first: Any, /, *args: Any, **kwargs: Any) -> Any:
        host, r, done, value, wait = begin(first, *args, **kwargs)
        try:
            return value if done else host.engine.run(wait())
        finally:
            r.end()

    async def read_async(first: Any, /, *args: Any, **kwargs: Any) -> Any:
        host, r, done, value, wait = begin(first, *args, **kwargs)
        try:
            return value if done else await host.engine.arun(wait())
        finally:
            r.end()

    name = "read_stream_offset"
    return (
        as_method(read, spec, on, name),
        as_method(
            read_async, spec, on, "read_stream_offset_async", async_doc("read_stream_offset")
        ),
    )
