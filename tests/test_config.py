"""Config resolution: keys, yaml, environment and precedence. No database needed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dbos_queue.error import DBOSConfigError, DBOSInitializationError
from dbos_queue.model.config import (
    CONFIG_FILE,
    KNOWN_KEYS,
    DBOSConfig,
    Settings,
    load_yaml,
    resolve,
)

# Copied once from DBOS Python 3.4's and 2.31's DBOSConfig TypedDicts.
DBOS_3_KEYS = [
    "name",
    "system_database_url",
    "sys_db_pool_size",
    "sys_db_polling_concurrency",
    "db_engine_kwargs",
    "sys_db_idle_transaction_timeout_sec",
    "log_level",
    "otlp_log_level",
    "console_log_level",
    "otlp_traces_endpoints",
    "otlp_logs_endpoints",
    "otlp_attributes",
    "application_version",
    "executor_id",
    "dbos_system_schema",
    "enable_otlp",
    "system_database_engine",
    "conductor_key",
    "conductor_url",
    "conductor_executor_metadata",
    "conductor_metadata_only_mode",
    "transact_enterprise_key",
    "auto_upgrade",
    "auto_upgrade_interval_sec",
    "auto_upgrade_grace_sec",
    "serializer",
    "enable_patching",
    "use_listen_notify",
    "sharding",
    "run_migrations",
    "max_executor_threads",
    "notification_listener_polling_interval_sec",
    "notification_coalesce_sec",
    "observability_query_timeout_sec",
    "scheduler_polling_interval_sec",
    "kafka_queue_polling_interval_sec",
    "otel_attribute_format",
]
DBOS_2_KEYS = [
    "name",
    "system_database_url",
    "application_database_url",
    "database_url",
    "sys_db_pool_size",
    "sys_db_polling_concurrency",
    "db_engine_kwargs",
    "log_level",
    "otlp_log_level",
    "console_log_level",
    "otlp_traces_endpoints",
    "otlp_logs_endpoints",
    "admin_port",
    "run_admin_server",
    "otlp_attributes",
    "application_version",
    "executor_id",
    "dbos_system_schema",
    "enable_otlp",
    "system_database_engine",
    "conductor_key",
    "conductor_url",
    "conductor_executor_metadata",
    "serializer",
    "enable_patching",
    "use_listen_notify",
    "run_migrations",
    "max_executor_threads",
    "notification_listener_polling_interval_sec",
    "notification_coalesce_sec",
    "scheduler_polling_interval_sec",
    "kafka_queue_polling_interval_sec",
    "otel_attribute_format",
]
OWN_KEYS = [
    "drain_timeout_sec",
    "executor_lease_sec",
    "heartbeat_interval_sec",
    "max_recovery_attempts",
    "admin_host",
    "admin_token",
    "metrics_enabled",
    "prepare_threshold",
    "queue_polling_interval_sec",
    "schedule_catchup",
    "listen_database_url",
    "unknown_workflow_wait_sec",
    "workflow_retention_sec",
    "workflow_retention_rows",
    "workflow_retention_interval_sec",
    "max_listening_workers",
]
URL = "postgresql://app:secret@db.example:5432/appdb"


class _Serializer:
    def serialize(self, data: Any) -> str:
        return repr(data)

    def deserialize(self, text: str) -> Any:
        return text


class _FakeURL:
    def render_as_string(self, hide_password: bool = True) -> str:
        return "postgresql+psycopg://eng:pw@enginehost:5432/engdb"


class _FakeEngine:
    url = _FakeURL()


SAMPLE: dict[str, Any] = {
    "name": "my-app", "system_database_url": URL, "application_database_url": URL,
    "database_url": URL, "sys_db_pool_size": 8, "sys_db_polling_concurrency": 3,
    "db_engine_kwargs": {"pool_timeout": 5}, "sys_db_idle_transaction_timeout_sec": 30.0,
    "log_level": "DEBUG", "otlp_log_level": "INFO", "console_log_level": "warning",
    "otlp_traces_endpoints": ["http://otel:4318"], "otlp_logs_endpoints": ["http://otel:4318"],
    "otlp_attributes": {"team": "x"}, "admin_port": 3002, "run_admin_server": True,
    "application_version": "v1", "executor_id": "pod-1", "dbos_system_schema": "dbos_q",
    "enable_otlp": False, "system_database_engine": _FakeEngine(), "conductor_key": "k",
    "conductor_url": "wss://conductor", "conductor_executor_metadata": {"a": 1},
    "conductor_metadata_only_mode": True, "transact_enterprise_key": "e", "auto_upgrade": True,
    "auto_upgrade_interval_sec": 10.0, "auto_upgrade_grace_sec": 0.0,
    "serializer": _Serializer(), "enable_patching": False, "use_listen_notify": True,
    "sharding": False, "run_migrations": False, "max_executor_threads": 16,
    "notification_listener_polling_interval_sec": 0.5, "notification_coalesce_sec": 0.02,
    "observability_query_timeout_sec": 10.0, "scheduler_polling_interval_sec": 5.0,
    "kafka_queue_polling_interval_sec": 1.0, "otel_attribute_format": "semconv",
    "drain_timeout_sec": 12.5, "executor_lease_sec": 6.0, "heartbeat_interval_sec": 1.0,
    "max_recovery_attempts": 7, "admin_host": "127.0.0.1", "admin_token": "tok",
    "metrics_enabled": False, "prepare_threshold": None, "queue_polling_interval_sec": 0.25,
    "schedule_catchup": True, "listen_database_url": URL, "unknown_workflow_wait_sec": 5.0,
    "workflow_retention_sec": 86400.0, "workflow_retention_rows": 1000,
    "workflow_retention_interval_sec": 600.0,
    "max_listening_workers": 2,
}  # fmt: skip


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / CONFIG_FILE
    path.write_text(text)
    return path


# ---- keys --------------------------------------------------------------------------------


def test_every_dbos_key_and_ours_is_known() -> None:
    assert set(DBOS_3_KEYS) <= KNOWN_KEYS
    assert set(DBOS_2_KEYS) <= KNOWN_KEYS
    assert set(OWN_KEYS) <= KNOWN_KEYS
    assert KNOWN_KEYS == set(DBOS_3_KEYS) | set(DBOS_2_KEYS) | set(OWN_KEYS)
    assert set(SAMPLE) == KNOWN_KEYS == set(DBOSConfig.__optional_keys__)


@pytest.mark.parametrize("key", sorted(set(DBOS_3_KEYS) | set(DBOS_2_KEYS)))
def test_each_dbos_key_alone_is_accepted(key: str) -> None:
    resolve({key: SAMPLE[key]}, environ={})


def test_full_config_resolves_to_given_values() -> None:
    s = resolve(SAMPLE, environ={"DBOS__VMID": "ignored", "DBOS_SYSTEM_DATABASE_URL": URL + "x"})
    assert s.name == "my-app"
    assert s.system_database_url == URL
    assert s.application_database_url == URL
    assert (s.sys_db_pool_size, s.sys_db_polling_concurrency) == (8, 3)
    assert (s.log_level, s.console_log_level) == ("DEBUG", "WARNING")
    assert (s.admin_port, s.admin_host, s.admin_token, s.run_admin_server) == (
        3002, "127.0.0.1", "tok", True,
    )  # fmt: skip
    assert (s.executor_id, s.application_version) == ("pod-1", "v1")
    assert s.dbos_system_schema == "dbos_q"
    assert isinstance(s.serializer, _Serializer)
    assert s.run_migrations is False and s.max_executor_threads == 16
    assert (s.executor_lease_sec, s.heartbeat_interval_sec) == (6.0, 1.0)
    assert (s.drain_timeout_sec, s.max_recovery_attempts) == (12.5, 7)
    assert s.prepare_threshold is None  # None is meaningful here: no prepared statements
    assert s.metrics_enabled is False and s.schedule_catchup is True
    assert s.queue_polling_interval_sec == 0.25
    assert s.max_listening_workers == 2


def test_defaults() -> None:
    s = resolve({}, environ={})
    assert s.name == "dbos-queue-app"
    assert s.system_database_url is None and s.application_database_url is None
    assert (s.executor_id, s.application_version) == ("local", None)
    assert (s.admin_port, s.admin_host, s.run_admin_server) == (3001, "0.0.0.0", False)
    assert s.drain_timeout_sec == 30.0
    assert s.executor_lease_sec == 10.0
    assert s.heartbeat_interval_sec == pytest.approx(10.0 / 3)
    assert s.max_recovery_attempts == 100
    assert s.metrics_enabled is True and s.schedule_catchup is False
    assert s.queue_polling_interval_sec == 1.0
    assert s.prepare_threshold == 5
    assert s.serializer == "json"
    assert (s.sys_db_pool_size, s.sys_db_polling_concurrency) == (20, 10)
    assert s.dbos_system_schema == "dbos"
    assert s.use_listen_notify is True and s.run_migrations is True


def test_settings_are_frozen() -> None:
    s = resolve({}, environ={})
    with pytest.raises(ValidationError):
        s.executor_id = "other"  # type: ignore[misc]


def test_heartbeat_defaults_to_a_third_of_the_lease() -> None:
    assert resolve({"executor_lease_sec": 6}, environ={}).heartbeat_interval_sec == 2.0


def test_none_values_mean_default() -> None:
    s = resolve({"sys_db_pool_size": None, "executor_id": None}, environ={"DBOS__VMID": "vm"})
    assert s.sys_db_pool_size == 20 and s.executor_id == "vm"


def test_ignored_keys_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="dbos_queue.config"):
        resolve({"conductor_key": "k", "sharding": True}, environ={})
    assert "conductor_key" in caplog.text and "sharding" in caplog.text


# ---- errors ------------------------------------------------------------------------------


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(DBOSConfigError) as info:
        resolve({"sytem_database_url": URL}, environ={})
    assert info.value.message == (
        "Unknown config key 'sytem_database_url'. Did you mean 'system_database_url'?"
    )
    assert isinstance(info.value, DBOSInitializationError)


def test_unknown_key_without_a_close_match() -> None:
    with pytest.raises(DBOSConfigError, match="Unknown config key 'zzz'"):
        resolve({"zzz": 1}, environ={})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("sys_db_pool_size", 0, "greater than or equal to 1"),
        ("sys_db_pool_size", "many", "valid integer"),
        ("sys_db_pool_size", True, "not a boolean"),
        ("admin_port", 70000, "less than or equal to 65535"),
        ("admin_port", -1, "greater than or equal to 0"),
        ("log_level", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
        ("serializer", "yaml", '"json", "pickle", or an object'),
        ("serializer", object(), "serialize() and deserialize()"),
        ("executor_lease_sec", 0, "greater than 0"),
        ("executor_lease_sec", float("nan"), "finite"),
        ("queue_polling_interval_sec", -1, "greater than 0"),
        ("notification_coalesce_sec", 0.0001, "greater than or equal to 0.001"),
        ("drain_timeout_sec", -5, "greater than or equal to 0"),
        ("max_recovery_attempts", 0, "greater than or equal to 1"),
        ("dbos_system_schema", "dbos; drop", "match pattern"),
        ("system_database_url", "sqlite:///app.sqlite", "Postgres URL"),
        ("use_listen_notify", "perhaps", "valid boolean"),
        ("max_listening_workers", -1, "greater than or equal to 0"),
        ("max_listening_workers", "few", "valid integer"),
    ],
)
def test_bad_value_names_key_value_and_expectation(key: str, value: Any, expected: str) -> None:
    with pytest.raises(DBOSConfigError) as info:
        resolve({key: value}, environ={})
    msg = str(info.value)
    assert f"'{key}'" in msg
    assert repr(value) in msg or key == "serializer"
    assert expected in msg


def test_bad_log_level_is_reported_once() -> None:
    with pytest.raises(DBOSConfigError) as info:
        resolve({"log_level": "loud"}, environ={})
    assert str(info.value).count("Invalid value") == 1


def test_legacy_key_is_named_in_errors() -> None:
    with pytest.raises(DBOSConfigError, match="as database_url"):
        resolve({"database_url": "garbage=="}, environ={})


def test_heartbeat_must_be_shorter_than_lease() -> None:
    with pytest.raises(DBOSConfigError, match=r"heartbeat_interval_sec .* shorter than"):
        resolve({"executor_lease_sec": 3, "heartbeat_interval_sec": 3}, environ={})


def test_errors_never_show_passwords_or_tokens() -> None:
    with pytest.raises(DBOSConfigError) as info:
        resolve({"system_database_url": "mysql://u:hunter2@h/db"}, environ={})
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
    with pytest.raises(DBOSConfigError) as info:
        resolve({"admin_token": 12.5j}, environ={})
    assert "12.5" not in str(info.value)


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(DBOSConfigError) as info:
        resolve({}, environ={"DBOS_QUEUE_DRAIN_TIMEOUT_S": "soon"})
    msg = str(info.value)
    assert "drain_timeout_sec" in msg and "DBOS_QUEUE_DRAIN_TIMEOUT_S" in msg and "'soon'" in msg


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(DBOSConfigError):
        resolve(["name"], environ={})  # type: ignore[arg-type]


def test_conflicting_application_urls() -> None:
    with pytest.raises(DBOSConfigError, match="database_url and application_database_url"):
        resolve({"database_url": URL, "application_database_url": URL + "2"}, environ={})


# ---- precedence ------------------------------------------------------------------------------


def test_system_url_precedence(tmp_path: Path) -> None:
    _yaml(tmp_path, "system_database_url: postgresql://y@yamlhost/ydb\n")
    env = {"DBOS_SYSTEM_DATABASE_URL": "postgresql://e@envhost/edb"}
    code = {"system_database_url": "postgresql://c@codehost/cdb"}
    assert (
        resolve(code, cwd=tmp_path, environ=env).system_database_url == code["system_database_url"]
    )
    assert (
        resolve(None, cwd=tmp_path, environ=env).system_database_url
        == (env["DBOS_SYSTEM_DATABASE_URL"])
    )
    assert resolve(None, cwd=tmp_path, environ={}).system_database_url == (
        "postgresql://y@yamlhost/ydb"
    )
    (tmp_path / CONFIG_FILE).unlink()
    assert resolve(None, cwd=tmp_path, environ={}).system_database_url is None


def test_yaml_is_not_read_when_a_config_dict_is_given(tmp_path: Path) -> None:
    _yaml(tmp_path, "name: from-yaml\nsystem_database_url: postgresql://y@h/ydb\n")
    s = resolve({"executor_id": "x"}, cwd=tmp_path, environ={})
    assert s.name == "dbos-queue-app" and s.system_database_url is None
    # even a broken yaml does not matter then
    _yaml(tmp_path, "bogus_key: 1\n")
    resolve({}, cwd=tmp_path, environ={})


def test_env_beats_code_only_where_code_is_silent() -> None:
    env = {"DBOS_SYSTEM_DATABASE_URL": "postgresql://e@envhost/edb"}
    assert resolve({}, environ=env).system_database_url == "postgresql://e@envhost/edb"
    # the DBOS 2.x database_url names the system database too: it wins over the env
    s = resolve({"database_url": URL}, environ=env)
    assert s.application_database_url == URL
    assert s.system_database_url == "postgresql://app:secret@db.example:5432/appdb_dbos_sys"


def test_system_url_from_engine() -> None:
    s = resolve({"system_database_engine": _FakeEngine()}, environ={})
    assert s.system_database_url == "postgresql://eng:pw@enginehost:5432/engdb"


def test_executor_id_precedence(tmp_path: Path) -> None:
    assert resolve({"executor_id": "cfg"}, environ={"DBOS__VMID": "vm"}).executor_id == "cfg"
    assert resolve({}, environ={"DBOS__VMID": "vm"}).executor_id == "vm"
    assert resolve({}, environ={"DBOS__VMID": ""}).executor_id == "local"
    assert resolve({}, environ={}).executor_id == "local"
    _yaml(tmp_path, "executor_id: from-yaml\n")
    assert resolve(None, cwd=tmp_path, environ={}).executor_id == "from-yaml"
    assert resolve(None, cwd=tmp_path, environ={"DBOS__VMID": "vm"}).executor_id == "vm"


def test_application_version_precedence() -> None:
    env = {"DBOS__APPVERSION": "env-v"}
    assert resolve({"application_version": "v"}, environ=env).application_version == "v"
    assert resolve({}, environ=env).application_version == "env-v"
    assert resolve({}, environ={}).application_version is None
    assert resolve({"enable_patching": True}, environ=env).application_version == (
        "PATCHING_ENABLED"
    )


def test_drain_timeout_from_env() -> None:
    env = {"DBOS_QUEUE_DRAIN_TIMEOUT_S": "45"}
    assert resolve({}, environ=env).drain_timeout_sec == 45.0
    assert resolve({"drain_timeout_sec": 5}, environ=env).drain_timeout_sec == 5.0
    assert resolve({}, environ={}).drain_timeout_sec == 30.0


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBOS__VMID", "from-os")
    monkeypatch.delenv("DBOS_SYSTEM_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve().executor_id == "from-os"


# ---- dbos-config.yaml ------------------------------------------------------------------------


def test_yaml_env_expansion(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "# ${IN_A_COMMENT} is never looked up\n"
        "name: ${APP_NAME}\n"
        "system_database_url: postgresql://u:${PW}@${HOST:-localhost}:5432/${DB:-dbosq}\n"
        "runtimeConfig:\n  admin_port: ${PORT:-3005}\n",
    )
    flat = load_yaml(path, environ={"APP_NAME": "shop", "PW": "p", "DB": ""})
    assert flat == {
        "name": "shop",
        "system_database_url": "postgresql://u:p@localhost:5432/dbosq",
        "admin_port": "3005",
    }
    s = resolve(None, cwd=tmp_path, environ={"APP_NAME": "shop", "PW": "p"})
    assert s.admin_port == 3005 and s.name == "shop"


def test_yaml_missing_var_names_var_and_file(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "name: app\nsystem_database_url: postgresql://u:${NOPE}@h/db\n")
    with pytest.raises(DBOSConfigError) as info:
        load_yaml(path, environ={})
    assert "NOPE" in str(info.value) and str(path) in str(info.value)


def test_yaml_empty_var_without_default_is_kept_empty(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "application_version: v${SUFFIX}\n")
    assert load_yaml(path, environ={"SUFFIX": ""}) == {"application_version": "v"}


def test_yaml_unknown_top_level_key(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "name: a\nruntime_config:\n  start: []\n")
    with pytest.raises(DBOSConfigError) as info:
        load_yaml(path, environ={})
    msg = str(info.value)
    assert "'runtime_config'" in msg and "Did you mean 'runtimeConfig'?" in msg
    assert str(path) in msg


def test_yaml_nested_unknown_key(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "database:\n  sys_db_pool_sise: 3\n")
    with pytest.raises(DBOSConfigError) as info:
        resolve(None, cwd=tmp_path, environ={})
    msg = str(info.value)
    assert "'database.sys_db_pool_sise'" in msg and str(path) in msg
    assert "Did you mean 'database.sys_db_pool_size'?" in msg
    path = _yaml(tmp_path, "telemetry:\n  logs:\n    logLevell: DEBUG\n")
    with pytest.raises(DBOSConfigError, match=r"Did you mean 'telemetry\.logs\.logLevel'"):
        load_yaml(path, environ={})


def test_yaml_section_must_be_a_mapping(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "runtimeConfig: [1, 2]\n")
    with pytest.raises(DBOSConfigError, match=r"'runtimeConfig' .* must be a mapping"):
        load_yaml(path, environ={})


def test_yaml_bad_value_names_file(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "database:\n  sys_db_pool_size: 0\n")
    with pytest.raises(DBOSConfigError) as info:
        resolve(None, cwd=tmp_path, environ={})
    assert "'sys_db_pool_size'" in str(info.value) and str(path) in str(info.value)


def test_yaml_not_a_mapping_or_invalid(tmp_path: Path) -> None:
    with pytest.raises(DBOSConfigError, match="mapping"):
        load_yaml(_yaml(tmp_path, "- a\n- b\n"), environ={})
    with pytest.raises(DBOSConfigError, match="not valid YAML"):
        load_yaml(_yaml(tmp_path, "a: [\n"), environ={})
    assert load_yaml(_yaml(tmp_path, "# only a comment\n"), environ={}) == {}


def test_yaml_python_shape(tmp_path: Path) -> None:
    _yaml(
        tmp_path,
        """
name: shop
language: python
database_url: postgresql://app:pw@db:5432/shop
database:
  sys_db_pool_size: 7
  migrate: ["alembic upgrade head"]
runtimeConfig:
  start: ["python main.py"]
  setup: ["pip install ."]
  run_admin_server: true
  max_executor_threads: 12
telemetry:
  logs:
    logLevel: debug
    consoleLogLevel: ERROR
  OTLPExporter:
    tracesEndpoint: http://otel:4318/v1/traces
  disable_otlp: true
env:
  FOO: bar
executor_lease_sec: 12
""",
    )
    s = resolve(None, cwd=tmp_path, environ={})
    assert s.name == "shop"
    assert s.application_database_url == "postgresql://app:pw@db:5432/shop"
    assert s.system_database_url == "postgresql://app:pw@db:5432/shop_dbos_sys"
    assert s.sys_db_pool_size == 7 and s.max_executor_threads == 12
    assert s.run_admin_server is True
    assert (s.log_level, s.console_log_level) == ("DEBUG", "ERROR")
    assert (s.executor_lease_sec, s.heartbeat_interval_sec) == (12.0, 4.0)
    flat = load_yaml(tmp_path / CONFIG_FILE, environ={})
    assert flat["otlp_traces_endpoints"] == ["http://otel:4318/v1/traces"]
    assert flat["enable_otlp"] is False


def test_yaml_null_prepare_threshold_disables_prepared_statements(tmp_path: Path) -> None:
    _yaml(tmp_path, "prepare_threshold: null\nsys_db_pool_size: null\n")
    s = resolve(None, cwd=tmp_path, environ={})
    assert s.prepare_threshold is None and s.sys_db_pool_size == 20


def test_yaml_key_set_twice(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "admin_port: 1\nruntimeConfig:\n  admin_port: 2\n")
    with pytest.raises(DBOSConfigError, match="admin_port twice"):
        load_yaml(path, environ={})


SEED_YAML = """\
# To enable auto-completion and validation for this file in VSCode, install the RedHat YAML \
extension
# https://marketplace.visualstudio.com/items?itemName=redhat.vscode-yaml

# yaml-language-server: $schema=https://raw.githubusercontent.com/dbos-inc/dbos-transact/main/dbos-config.schema.json

language: node
database:
  hostname: localhost
  port: 5432
  username: postgres
  password: ${PGPASSWORD}
  connectionTimeoutMillis: 3000
  # drizzle, knex, prisma, typeorm
  app_db_client: knex
  local_suffix: false
  migrate:
    - npx knex migrate:latest
  rollback:
    - npx knex migrate:rollback
runtimeConfig:
  start:
    - node dist/main.js
"""


def test_seed_typescript_yaml_builds_a_url(tmp_path: Path) -> None:
    _yaml(tmp_path, SEED_YAML)
    s = resolve(None, cwd=tmp_path, environ={"PGPASSWORD": "p@ss/word"})
    assert s.system_database_url == (
        "postgresql://postgres:p%40ss%2Fword@localhost:5432/dbos_queue_app_dbos_sys"
        "?connect_timeout=3"
    )
    assert s.application_database_url is None
    with pytest.raises(DBOSConfigError, match="PGPASSWORD"):
        resolve(None, cwd=tmp_path, environ={})


def test_typescript_yaml_with_database_names(tmp_path: Path) -> None:
    _yaml(
        tmp_path,
        "name: shop\ndatabase:\n  hostname: db.internal\n  username: svc\n"
        "  app_db_name: shop\n  local_suffix: true\n  ssl: true\n",
    )
    s = resolve(None, cwd=tmp_path, environ={})
    assert s.application_database_url == (
        "postgresql://svc@db.internal:5432/shop_local?sslmode=require"
    )
    assert s.system_database_url == (
        "postgresql://svc@db.internal:5432/shop_local_dbos_sys?sslmode=require"
    )
    _yaml(tmp_path, "database:\n  sys_db_name: sysdb\n  port: ${PGPORT:-6432}\n")
    s = resolve(None, cwd=tmp_path, environ={})
    assert s.system_database_url == "postgresql://postgres@localhost:6432/sysdb"
    # an explicit URL wins over the TypeScript connection keys; the env over both
    _yaml(tmp_path, "system_database_url: postgresql://x@h/sys\ndatabase:\n  hostname: other\n")
    assert resolve(None, cwd=tmp_path, environ={}).system_database_url == "postgresql://x@h/sys"
    env = {"DBOS_SYSTEM_DATABASE_URL": "postgresql://e@h/edb"}
    assert resolve(None, cwd=tmp_path, environ=env).system_database_url == "postgresql://e@h/edb"


def test_settings_model_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"nope": 1})
