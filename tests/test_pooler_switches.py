"""The PgBouncer switches and DBOSClient's keywords, checked before anything connects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbos_queue import DBOSClient
from dbos_queue.error import DBOSConfigError, DBOSException
from dbos_queue.model.config import CONFIG_FILE, resolve

DIRECT = "postgresql://app:secret@postgres.db:5432/app_dbos_sys"
POOLED = "postgresql://app:secret@pgbouncer.db:6432/app_dbos_sys"


def test_the_four_environment_variables_the_chart_sets() -> None:
    env = {
        "DBOS_SYSTEM_DATABASE_URL": POOLED,
        "DBOS_QUEUE_PREPARE_THRESHOLD": "off",
        "DBOS_QUEUE_LISTEN_DATABASE_URL": DIRECT,
        "DBOS_QUEUE_USE_LISTEN_NOTIFY": "false",
        "DBOS_QUEUE_ADMIN_TOKEN": "s3cret",
    }
    s = resolve({"name": "app"}, environ=env)
    assert (s.system_database_url, s.listen_database_url) == (POOLED, DIRECT)
    assert s.prepare_threshold is None and s.use_listen_notify is False
    assert s.admin_token == "s3cret"
    for text, want in [("OFF", None), ("None", None), ("0", 0), ("12", 12)]:
        got = resolve({}, environ={"DBOS_QUEUE_PREPARE_THRESHOLD": text}).prepare_threshold
        assert got == want, text


def test_defaults_and_code_over_environment() -> None:
    s = resolve({}, environ={})
    assert s.listen_database_url is None  # the runtime then LISTENs on the system URL
    assert s.prepare_threshold == 5 and s.use_listen_notify is True
    assert s.unknown_workflow_wait_sec == 60.0
    code = {"prepare_threshold": 3, "use_listen_notify": True}
    env = {"DBOS_QUEUE_PREPARE_THRESHOLD": "off", "DBOS_QUEUE_USE_LISTEN_NOTIFY": "false"}
    s = resolve(code, environ=env)
    assert (s.prepare_threshold, s.use_listen_notify) == (3, True)


@pytest.mark.parametrize(
    ("var", "value", "expect"),
    [
        ("DBOS_QUEUE_PREPARE_THRESHOLD", "sometimes", 'or "off" for no server-side'),
        ("DBOS_QUEUE_PREPARE_THRESHOLD", "-1", "greater than or equal to 0"),
        ("DBOS_QUEUE_USE_LISTEN_NOTIFY", "perhaps", "valid boolean"),
        ("DBOS_QUEUE_LISTEN_DATABASE_URL", "mysql://u:pw@h/db", "Postgres URL"),
        ("DBOS_QUEUE_UNKNOWN_WORKFLOW_WAIT_SEC", "-3", "greater than or equal to 0"),
    ],
)
def test_bad_environment_values_name_the_variable(var: str, value: str, expect: str) -> None:
    with pytest.raises(DBOSConfigError) as exc:
        resolve({}, environ={var: value})
    assert var in str(exc.value) and expect in str(exc.value)
    assert "pw" not in str(exc.value)  # a URL's password is never shown


def test_yaml_keys_and_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text(
        f"name: app\nsystem_database_url: {POOLED}\nprepare_threshold: off\n"
        f"database:\n  listen_database_url: {DIRECT}\n"
    )
    s = resolve(None, cwd=tmp_path, environ={})
    assert (s.listen_database_url, s.prepare_threshold) == (DIRECT, None)
    with pytest.raises(DBOSConfigError, match="Did you mean 'listen_database_url'"):
        resolve({"listen_database_uri": DIRECT}, environ={})


@pytest.mark.parametrize(
    ("kwargs", "error", "expect"),
    [
        ({"system_database_engine": "postgresql://x"}, TypeError, "SQLAlchemy Engine"),
        ({"system_database_pool_size": True}, TypeError, "system_database_pool_size"),
        ({"use_listen_notify": "yes"}, TypeError, "use_listen_notify"),
        ({"prepare_threshold": 1.5}, TypeError, "prepare_threshold"),
        ({"prepare_threshold": "sometimes"}, DBOSConfigError, "prepare_threshold"),
        ({"serializer": 3}, TypeError, "serializer"),
        ({"lazy": True, "use_listen_notify": True}, DBOSException, "both lazy and"),
        ({"sharding": True}, DBOSException, "sharded"),
        ({"dbos_system_schema": "other"}, DBOSConfigError, "schema 'dbos'"),
        ({"system_database_url": "mysql://u@h/db"}, DBOSConfigError, "Postgres URL"),
        ({"system_database_pool_size": 0}, DBOSConfigError, "at least 1"),
    ],
)
def test_client_keywords_refused_before_connecting(
    kwargs: dict[str, Any], error: type[BaseException], expect: str
) -> None:
    kwargs = {"system_database_url": DIRECT, **kwargs}
    with pytest.raises(error, match=expect):
        DBOSClient(**kwargs)


def test_client_takes_an_sqlalchemy_engines_url_lazily() -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine("postgresql+psycopg://eng:pw@127.0.0.1:1/engdb")
    # lazy: nothing connects now (the port is closed), so the URL can be checked
    client = DBOSClient(system_database_engine=engine, lazy=True, prepare_threshold="off")
    try:
        assert client.url == "postgresql://eng:pw@127.0.0.1:1/engdb"
        assert client.engine.prepare_threshold is None and client.engine.listen is False
    finally:
        client.destroy()
    with pytest.raises(DBOSConfigError, match="sqlite"):
        DBOSClient(system_database_engine=sqlalchemy.create_engine("sqlite://"))
