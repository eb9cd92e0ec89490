"""The ``DBOS`` facade: send/recv, events, durable sleep, streams.

The methods and their async twins are built (``api.twin``) from one spec each:
``api/facade/dbos_specs.py`` for DBOS's own, ``api.specs`` for the stream readers
``DBOSClient`` has too.
"""

from __future__ import annotations

from dbos_queue.api import specs
from dbos_queue.api.facade import dbos_specs as _specs
from dbos_queue.api.facade.recorded import ON_RUNTIME
from dbos_queue.api.invoke import op_context, require_runtime
from dbos_queue.api.twin import Then, twins, with_options
from dbos_queue.engine import comm as _comm

_EVENTS = Then(_specs.events_of, _specs.events_of)


class Messaging:
    """``DBOS`` class methods: send/recv, events, durable sleep, streams."""

    send, send_async = twins(_specs.send, ON_RUNTIME)
    send_bulk, send_bulk_async = twins(_specs.send_bulk, ON_RUNTIME)
    recv, recv_async = twins(_specs.recv, ON_RUNTIME)
    set_event, set_event_async = twins(_specs.set_event, ON_RUNTIME)
    get_event, get_event_async = twins(with_options(specs.get_event, _specs.caller), ON_RUNTIME)
    get_all_events, get_all_events_async = twins(_specs.get_all_events, ON_RUNTIME, _EVENTS)
    write_stream, write_stream_async = twins(_specs.write_stream, ON_RUNTIME)
    close_stream, close_stream_async = twins(_specs.close_stream, ON_RUNTIME)
    read_stream, read_stream_async = specs.stream_twins(specs.read_stream, ON_RUNTIME, True)
    read_stream_offset, read_stream_offset_async = specs.offset_twins(
        specs.read_stream_offset, ON_RUNTIME, True
    )

    @classmethod
    def sleep(cls, seconds: float) -> None:
        """Durable sleep inside a workflow (time.sleep elsewhere)."""
        import time

        ctx, fid = op_context(required=False)
        if ctx is None:
            time.sleep(seconds)
            return
        require_runtime().engine.run(_comm.sleep(require_runtime(), ctx, fid, seconds))

    @classmethod
    async def sleep_async(cls, seconds: float) -> None:
        """``sleep`` from async code (asyncio.sleep outside a workflow)."""
        import asyncio

        ctx, fid = op_context(required=False)
        if ctx is None:
            await asyncio.sleep(seconds)
            return
        await require_runtime().engine.arun(_comm.sleep(require_runtime(), ctx, fid, seconds))
