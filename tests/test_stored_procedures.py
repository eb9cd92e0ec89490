"""``@DBOS.stored_procedure()``: a function of the application database called exactly once
per workflow step, the call and its checkpoint in one transaction and one round trip.

Round trips are counted on the wire: the application database is reached through a
small TCP proxy that counts the frontend messages ending a round trip (simple Query,
and Sync of the extended protocol). The user's function is created here the way an
application creates it: a migration of its own database (docs/stored-procedures.md).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from dbos_queue import DBOS, SetWorkflowID
from dbos_queue.engine.registry import registry
from dbos_queue.error import DBOSException
from tests.plugins.pg import drop_database, make_database

# The application's migration: what a user ships to create their functions.
APP_MIGRATION = """
CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, amount int NOT NULL,
                     txid bigint NOT NULL);
CREATE FUNCTION place_order(customer text, amount int) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO orders (customer, amount, txid) VALUES (customer, amount, txid_current())
    RETURNING jsonb_build_object('id', id, 'txid', txid)
$$;
CREATE TABLE counter (n int NOT NULL);
INSERT INTO counter VALUES (0);
CREATE SEQUENCE bump_attempts;
CREATE FUNCTION bump(pause float8) RETURNS int LANGUAGE plpgsql AS $$
DECLARE v int;
BEGIN
    PERFORM nextval('bump_attempts');  -- not rolled back: counts every attempt
    PERFORM pg_sleep(pause);
    UPDATE counter SET n = n + 1 RETURNING n INTO v;
    RETURN v;
END $$;
CREATE PROCEDURE add_to_counter(delta int, INOUT total int DEFAULT NULL) LANGUAGE plpgsql AS $$
BEGIN
    UPDATE counter SET n = n + delta RETURNING n INTO total;
END $$;
CREATE FUNCTION refuse(reason text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refused: %', reason;
END $$;
"""


class RoundTripProxy:
    """Forward TCP connections to the server's Unix socket, counting client round trips."""

    def __init__(self, socket_dir: str, port: int) -> None:
        self.target = f"{socket_dir}/.s.PGSQL.{port}"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.round_trips = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.target)
            threading.Thread(target=self._frontend, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def _frontend(self, src: socket.socket, dst: socket.socket) -> None:
        buf, started = b"", False
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                buf += data
                while True:
                    if not started:  # the startup packet: length, then no type byte
                        if len(buf) < 4 or len(buf) < struct.unpack("!i", buf[:4])[0]:
                            break
                        buf, started = buf[struct.unpack("!i", buf[:4])[0] :], True
                        continue
                    if len(buf) < 5:
                        break
                    size = struct.unpack("!i", buf[1:5])[0]
                    if len(buf) < 1 + size:
                        break
                    if buf[:1] in (b"Q", b"S"):  # a simple query, or the Sync ending a batch
                        with self._lock:
                            self.round_trips += 1
                    buf = buf[1 + size :]
        except OSError:
            pass
        finally:
            dst.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def app_db(pg_server_url: str) -> Iterator[tuple[str, RoundTripProxy]]:
    """A fresh application database with the app's migration applied, behind the proxy."""
    url = make_database(pg_server_url, None)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(APP_MIGRATION)  # type: ignore[arg-type]  # the test's own DDL
        info = conn.info
        socket_dir, port, dbname, user = info.host, info.port, info.dbname, info.user
    proxy = RoundTripProxy(socket_dir, port)
    proxied = (
        f"postgresql://{user}@127.0.0.1:{proxy.port}/{dbname}?sslmode=disable&gssencmode=disable"
    )
    yield proxied, proxy
    proxy.close()
    drop_database(pg_server_url, url)


@pytest.fixture
def sp_dbos(config: dict[str, Any], app_db: tuple[str, RoundTripProxy]) -> Iterator[RoundTripProxy]:
    DBOS.destroy(destroy_registry=True)
    DBOS(config={**config, "application_database_url": app_db[0]})
    yield app_db[1]
    DBOS.destroy(destroy_registry=True)


def _app(proxy_url: str, query: str, params: tuple = ()) -> Any:
    with psycopg.connect(proxy_url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def test_call_and_checkpoint_in_one_round_trip_and_one_transaction(
    sp_dbos: RoundTripProxy, app_db: tuple[str, RoundTripProxy]
) -> None:
    @DBOS.stored_procedure()
    def place_order(customer: str, amount: int) -> dict:
        """Declared here, defined in the application database."""
        raise AssertionError("the Python body of a stored procedure never runs")

    @DBOS.workflow()
    def checkout(customer: str) -> list[dict]:
        return [place_order(customer, 5), place_order(customer=customer, amount=7)]

    DBOS.launch()
    before = sp_dbos.round_trips
    with SetWorkflowID("checkout-1"):
        first, second = checkout("ada")
    assert sp_dbos.round_trips - before == 2  # one per call: BEGIN, call + checkpoint, COMMIT
    rows = _app(
        app_db[0],
        "SELECT o.customer, o.amount, mod(o.txid, 4294967296) = t.xmin::text::bigint,"
        " t.output::jsonb"
        "  FROM orders o JOIN dbos.transaction_outputs t ON t.output::jsonb->>'id' = o.id::text"
        " WHERE t.workflow_uuid = 'checkout-1' ORDER BY t.function_id",
    )
    # Each checkpoint row was written by the transaction that ran the function.
    assert rows == [("ada", 5, True, first), ("ada", 7, True, second)]
    steps = DBOS.list_workflow_steps("checkout-1")
    assert [s["function_name"] for s in steps] == [place_order.__qualname__] * 2
    assert [s["output"] for s in steps] == [first, second]


def _force_recovery(wf_id: str) -> None:
    """Make a finished workflow look like one whose process died mid-run, and recover it."""
    with psycopg.connect(DBOS.system_database_url(), autocommit=True) as conn:
        conn.execute(
            "UPDATE dbos.workflow_status SET status = 'PENDING', output = NULL,"
            " owner_xid = 'a-dead-process:1', executor_id = %s WHERE workflow_uuid = %s",
            (DBOS.executor_id, wf_id),
        )
    rt = registry.process
    assert rt is not None
    assert wf_id in rt.recover([DBOS.executor_id])  # type: ignore[attr-defined]


@pytest.mark.parametrize("lost_system_record", [False, True])
def test_recovery_replays_the_checkpoint_instead_of_calling_again(
    sp_dbos: RoundTripProxy, app_db: tuple[str, RoundTripProxy], lost_system_record: bool
) -> None:
    @DBOS.stored_procedure(function="place_order")
    def order(customer: str, amount: int) -> dict: ...

    @DBOS.workflow()
    def buy() -> dict:
        return order("bob", 3)

    DBOS.launch()
    with SetWorkflowID("buy-1"):
        result = buy()
    if lost_system_record:
        # The process died between the application commit and the system-database record:
        # only the application database's checkpoint knows the call happened.
        with psycopg.connect(DBOS.system_database_url(), autocommit=True) as conn:
            conn.execute("DELETE FROM dbos.operation_outputs WHERE workflow_uuid = 'buy-1'")
    _force_recovery("buy-1")
    assert DBOS.retrieve_workflow("buy-1").get_result() == result
    assert _app(app_db[0], "SELECT count(*) FROM orders") == [(1,)]  # called exactly once
    assert [s["output"] for s in DBOS.list_workflow_steps("buy-1")] == [result]


def test_serialization_failures_are_retried(
    sp_dbos: RoundTripProxy, app_db: tuple[str, RoundTripProxy]
) -> None:
    @DBOS.stored_procedure()
    def bump(pause: float) -> int: ...

    @DBOS.workflow()
    def bumper(pause: float) -> int:
        return bump(pause)

    DBOS.launch()
    barrier = threading.Barrier(2)
    results: list[int] = []

    def run() -> None:
        barrier.wait()
        results.append(bumper(0.3))  # both read the counter before either commits

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [1, 2]
    assert _app(app_db[0], "SELECT n FROM counter") == [(2,)]
    attempts = _app(app_db[0], "SELECT last_value FROM bump_attempts")[0][0]
    assert attempts >= 3  # the loser's attempt was rolled back and run again


def test_procedure_call_returns_inout_values(
    sp_dbos: RoundTripProxy, app_db: tuple[str, RoundTripProxy]
) -> None:
    @DBOS.stored_procedure(function="add_to_counter", procedure=True)
    def add(delta: int) -> int: ...

    @DBOS.workflow()
    def adder() -> int:
        return add(40) + add(2)

    DBOS.launch()
    before = sp_dbos.round_trips
    with SetWorkflowID("adder-1"):
        assert adder() == 40 + 42
    assert sp_dbos.round_trips - before == 2
    checkpoints = _app(
        app_db[0],
        "SELECT function_id FROM dbos.transaction_outputs WHERE workflow_uuid = 'adder-1'",
    )
    assert sorted(checkpoints) == [(1,), (2,)]


def test_errors_are_recorded_and_missing_functions_explained(sp_dbos: RoundTripProxy) -> None:
    @DBOS.stored_procedure()
    def refuse(reason: str) -> int: ...

    @DBOS.stored_procedure(function="app.not_there")
    def missing() -> int: ...

    @DBOS.workflow()
    def refusing() -> int:
        return refuse("no stock")

    DBOS.launch()
    with pytest.raises(psycopg.errors.RaiseException, match="refused: no stock"):
        refusing()
    with pytest.raises(DBOSException, match=r"no function app\.not_there.*migration"):
        missing()
    # Outside a workflow a call is a plain call in its own transaction.
    with pytest.raises(psycopg.errors.RaiseException):
        refuse("outside")


def test_bad_declarations_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="not a database function name"):

        @DBOS.stored_procedure(function="drop table x; --")
        def bad() -> None: ...

    with pytest.raises(ValueError, match="isolation_level"):

        @DBOS.stored_procedure(isolation_level="SOMETIMES")
        def bad_level() -> None: ...
