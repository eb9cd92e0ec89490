"""DBOS's ``db_engine_kwargs`` applied to the system database pool: pool size (a limit
the pool widens to on demand), checkout timeout, connection lifetime, libpq
``connect_args`` and the prepare switch — against a real Postgres; bad keys refused
before anything connects."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS
from dbos_queue.api.dbos import _rt
from dbos_queue.error import DBOSConfigError
from tests.plugins.checks import must


@pytest.fixture
def launched(db_url: str):  # torn down before the database it uses is dropped
    def launch(config: dict[str, Any]) -> Any:
        DBOS.destroy(destroy_registry=True)
        DBOS(config=config)  # pyright: ignore[reportArgumentType]
        DBOS.launch()
        return _rt()

    yield launch
    DBOS.destroy(destroy_registry=True)


def test_engine_kwargs_shape_the_pool(launched, db_url: str) -> None:
    kwargs = {
        "pool_size": 3,
        "pool_timeout": 7,
        "pool_recycle": 600,
        "pool_pre_ping": True,  # SQLAlchemy's; accepted, no effect on a psycopg pool
        "connect_args": {"application_name": "billing-sysdb", "prepare_threshold": None},
    }
    rt = launched({"name": "ek", "system_database_url": db_url, "db_engine_kwargs": kwargs})
    pool = rt.engine.pool
    # The configured size is the pool's limit; it widens to it on demand (db/pool_growth.py).
    assert (rt.engine.pool_size, pool.timeout, pool.max_lifetime) == (3, 7.0, 600.0)
    assert pool.max_size <= 3
    assert rt.engine.prepare_threshold is None

    @DBOS.workflow()
    def ping() -> int:
        return 1

    assert DBOS.start_workflow(ping).get_result() == 1
    with psycopg.connect(db_url) as conn:
        names = conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'billing-sysdb'"
        ).fetchone()
    assert names is not None and names[0] >= 1  # the pool's connections carry the name


def test_sys_db_pool_size_wins_over_the_engine_kwargs(launched, db_url: str) -> None:
    rt = launched(
        {
            "name": "ek",
            "system_database_url": db_url,
            "sys_db_pool_size": 4,
            "db_engine_kwargs": {"pool_size": 9},
        }
    )
    assert rt.engine.pool_size == 4 and rt.engine.pool.max_size <= 4
    # Prepared statements on (the default 5): the worker's own pool prepares at the first
    # execution (DESIGN-NOTES 23); the application's connections keep the setting.
    assert rt.settings.prepare_threshold == 5 and rt.engine.prepare_threshold == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pool_sise": 3}, "unknown key"),
        ({"pool_size": 0}, "pool_size"),
        ({"pool_timeout": "soon"}, "pool_timeout"),
        ({"connect_args": ["application_name"]}, "connect_args"),
        ({"connect_args": {"options": {"a": 1}}}, "options"),
        ("pool_size=3", "must be a dict"),
    ],
)
def test_bad_engine_kwargs_are_refused_before_connecting(
    kwargs: Any, message: str, db_url: str
) -> None:
    DBOS.destroy(destroy_registry=True)
    with pytest.raises(DBOSConfigError, match=message):
        DBOS(config={"name": "ek", "system_database_url": db_url, "db_engine_kwargs": kwargs})  # pyright: ignore[reportArgumentType]
        DBOS.launch()
    DBOS.destroy(destroy_registry=True)


def test_the_pool_stays_small_until_checkouts_wait_then_widens_to_its_limit(
    launched, db_url: str
) -> None:
    rt = launched({"name": "pg", "system_database_url": db_url, "sys_db_pool_size": 6})
    engine = rt.engine
    # The launch's dozen background tasks overlap only briefly: no widening for them.
    assert engine.pool.max_size == 2

    async def hold() -> None:
        async with engine.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.05)")

    async def burst() -> None:
        await asyncio.gather(*(hold() for _ in range(24)))

    for _ in range(12):  # bursts make checkouts wait; a long wait allows one more per gap
        engine.run(burst())
        if engine.pool.max_size == 6:
            break
    assert engine.pool.max_size == 6  # the configured sys_db_pool_size, and no further
    engine.run(burst())
    assert engine.pool.max_size == 6
    assert engine.pool.get_stats()["pool_size"] <= 6


def test_a_checkout_nested_in_another_gets_a_second_connection_soon(db_url: str) -> None:
    """A task holding the pool's connections and asking for another is not left to
    wait for the pool's timeout: a checkout stuck with every connection in use widens."""
    from dbos_queue.db.loop import Engine

    engine = Engine(db_url, pool_size=4, listen=False, pool_timeout=30.0, grow_on_demand=True)
    engine.start()
    try:
        assert engine.pool is not None and engine.pool.max_size == 2

        async def nested() -> set[int]:
            async with engine.connection() as a, engine.connection() as b:
                async with engine.connection(timeout=5.0) as c:  # PoolTimeout if stuck
                    pids = set()
                    for conn in (a, b, c):
                        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
                        pids.add(must(row)[0])
                    return pids

        assert len(engine.run(nested())) == 3 and engine.pool.max_size == 3
    finally:
        engine.stop()
