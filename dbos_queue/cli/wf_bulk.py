"""``dbos-queue workflow cancel|resume``: by ids or by filters, in batches, with a bar."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbos_queue.cli.bars import Bar
from dbos_queue.cli.common import EXIT_FAILED, EXIT_OK, Globals, chunks, print_json
from dbos_queue.cli.values import STATUSES, UsageError, parse_statuses, parse_time

UNFINISHED = ["ENQUEUED", "DELAYED", "PENDING"]
RESUMABLE = ["CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]  # as DBOS: never SUCCESS/ERROR


@dataclass
class Filters:
    """The workflow filters of list, cancel and resume (None: not given)."""

    status: list[str] | None = None
    name: str | None = None
    queue: str | None = None
    prefix: str | None = None
    since: str | None = None
    until: str | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """The filters given, as ``list_workflows`` keywords; bad values are usage errors."""
        out: dict[str, Any] = {}
        statuses = parse_statuses(self.status, STATUSES)
        if statuses:
            out["status"] = statuses
        if self.name:
            out["name"] = self.name
        if self.queue:
            out["queue_name"] = self.queue
        if self.prefix:
            out["workflow_id_prefix"] = self.prefix
        since = parse_time(self.since, "--since")
        until = parse_time(self.until, "--until")
        if since:
            out["start_time"] = since
        if until:
            out["end_time"] = until
        return out


def list_workflows(client: Any, **kw: Any) -> list[Any]:
    """``management.list_workflows`` on the client's engine."""
    from dbos_queue.ops import management as mgmt

    return client.engine.run(mgmt.list_workflows(client, **kw))


def target_ids(
    client: Any, ids: list[str], filters: Filters, default_statuses: list[str], verb: str
) -> tuple[list[str], bool]:
    """The ids given, or those the filters select; (ids, by_filter)."""
    kw = filters.as_kwargs()
    if ids and kw:
        raise UsageError(f"give workflow ids or filters to {verb}, not both")
    if ids:
        return list(dict.fromkeys(ids)), False
    if not kw:
        raise UsageError(
            f"name the workflows to {verb}: ids, or filters such as --status ENQUEUED --queue NAME"
        )
    kw.setdefault("status", default_statuses)
    rows = list_workflows(client, load_input=False, load_output=False, **kw)
    return [st.workflow_id for st in rows], True


def statuses_of(client: Any, ids: Sequence[str]) -> dict[str, str]:
    """workflow id -> status, for the ids that exist."""
    found: dict[str, str] = {}
    for batch in chunks(ids):
        for st in list_workflows(
            client, workflow_ids=list(batch), load_input=False, load_output=False
        ):
            found[st.workflow_id] = st.status
    return found


@dataclass
class Result:
    """What a bulk operation did."""

    verb: str
    done: list[str]
    requested: list[str]
    skipped: dict[str, str]
    missing: list[str]
    by_filter: bool


def report(opts: Globals, r: Result) -> int:
    """Print what happened (JSON or sentences); exit 1 when an id did not exist."""
    if opts.json:
        print_json(
            {
                r.verb: r.done,
                "skipped": [{"workflow_id": k, "status": v} for k, v in r.skipped.items()],
                "not_found": r.missing,
            }
        )
    else:
        noun = "workflow" if len(r.done) == 1 else "workflows"
        single = len(r.requested) == 1 and len(r.done) == 1 and r.done[0] == r.requested[0]
        if not r.by_filter and single:
            print(f"{r.verb} {r.done[0]}")
        else:
            suffix = " (matching the filters)" if r.by_filter else ""
            print(f"{r.verb} {len(r.done)} {noun}{suffix}")
        for wf_id, status in list(r.skipped.items())[:20]:
            print(f"  {wf_id}: {status}; nothing to do")
        if len(r.skipped) > 20:
            print(f"  ... and {len(r.skipped) - 20} more skipped")
    for wf_id in r.missing:
        print(f"dbos-queue: no workflow with id {wf_id!r}", file=sys.stderr)
    return EXIT_FAILED if r.missing else EXIT_OK


def cancel(opts: Globals, client: Any, ids: list[str], filters: Filters, children: bool) -> int:
    """Cancel the given (or matching) unfinished workflows."""
    from dbos_queue.ops import management as mgmt

    ids, by_filter = target_ids(client, ids, filters, UNFINISHED, "cancel")
    missing: list[str] = []
    if not by_filter:
        known = statuses_of(client, ids)
        missing = [i for i in ids if i not in known]
        ids = [i for i in ids if i in known]
    cancelled: list[str] = []
    with Bar(len(ids), "cancel", enabled=not opts.json and len(ids) > 1) as bar:
        for batch in chunks(ids):
            cancelled += client.engine.run(mgmt.cancel(client, list(batch), children))
            bar.advance(len(batch))
    done = set(cancelled)
    skipped = statuses_of(client, [i for i in ids if i not in done])
    return report(opts, Result("cancelled", cancelled, ids, skipped, missing, by_filter))


def resume(
    opts: Globals, client: Any, ids: list[str], filters: Filters, to_queue: str | None
) -> int:
    """Resume the given (or matching) cancelled, failed or dead-lettered workflows."""
    from dbos_queue.error import DBOSNonExistentWorkflowError
    from dbos_queue.ops import management as mgmt

    ids, by_filter = target_ids(client, ids, filters, RESUMABLE, "resume")
    resumed: list[str] = []
    missing: list[str] = []
    not_resumed: list[str] = []

    async def resume_batch(batch: Sequence[str]) -> list[Any]:  # one statement per id
        return await asyncio.gather(
            *(mgmt.resume(client, i, to_queue) for i in batch), return_exceptions=True
        )

    with Bar(len(ids), "resume", enabled=not opts.json and len(ids) > 1) as bar:
        for batch in chunks(ids, 50):
            for wf_id, ok in zip(batch, client.engine.run(resume_batch(batch)), strict=True):
                if isinstance(ok, DBOSNonExistentWorkflowError):
                    missing.append(wf_id)
                elif isinstance(ok, BaseException):
                    raise ok
                else:
                    (resumed if ok else not_resumed).append(wf_id)
            bar.advance(len(batch))
    skipped = statuses_of(client, not_resumed)
    return report(opts, Result("resumed", resumed, ids, skipped, missing, by_filter))
