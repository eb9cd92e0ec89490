"""The configuration's schema: the keys DBOS accepts (``DBOSConfig``), the environment
variables that supply some of them, and ``Settings``, the validated model with a
concrete value for every key dbos_queue uses (model/config.py resolves one).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    TypedDict,
    cast,
    get_args,
)

import psycopg.conninfo
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dbos_queue.error import DBOSConfigError
from dbos_queue.model.pgurl import normalize

CONFIG_FILE = "dbos-config.yaml"
DEFAULT_NAME = "dbos-queue-app"
SYSDB_SUFFIX = "_dbos_sys"  # DBOS names the system database after the application's


class DBOSConfig(TypedDict, total=False):
    """The ``DBOS(config=...)`` dict: every key DBOS Python 2.x and 3.x accept, plus ours.

    DBOS keys keep DBOS's meaning; those in ``IGNORED_KEYS`` are accepted and unused.
    ``system_database_engine`` only lends its URL. ``database_url`` (DBOS 2.x) is the
    application database; without ``system_database_url`` the system database is its
    name plus ``_dbos_sys``, as in DBOS 2.x. Our own keys and defaults:
    ``drain_timeout_sec`` 30 (env ``DBOS_QUEUE_DRAIN_TIMEOUT_S``), ``executor_lease_sec``
    10, ``heartbeat_interval_sec`` lease/3, ``max_recovery_attempts`` 100, ``admin_host``
    "0.0.0.0", ``admin_token`` (admin server bearer token) None, ``metrics_enabled`` True,
    ``prepare_threshold`` 5 (None, or "off"/"none" from env ``DBOS_QUEUE_PREPARE_THRESHOLD``:
    no server-side prepared statements, for PgBouncer in transaction mode; while it is on,
    a worker's own system-database pool prepares at the first execution, DESIGN-NOTES 23),
    ``queue_polling_interval_sec`` 1.0 (fallback poll), ``schedule_catchup`` False,
    ``listen_database_url`` the system database URL (env ``DBOS_QUEUE_LISTEN_DATABASE_URL``;
    where the one LISTEN connection goes: straight to Postgres when the system URL is a
    pooler's), ``unknown_workflow_wait_sec`` 60 (how long a dequeued workflow whose function
    no live worker registers waits for one before it ends ERROR; env
    ``DBOS_QUEUE_UNKNOWN_WORKFLOW_WAIT_SEC``), ``workflow_retention_sec`` /
    ``workflow_retention_rows`` None (automatic retention, off; once per
    ``workflow_retention_interval_sec``, 3600, fleet-wide), ``max_listening_workers`` 4
    (env ``DBOS_QUEUE_MAX_LISTENING_WORKERS``; how many worker processes of a queue keep a
    LISTEN connection, the others poll it every ``polling_interval_sec`` until one leaves;
    0: all listen; queue/wakeup.py). DBOS's
    ``use_listen_notify`` False (env ``DBOS_QUEUE_USE_LISTEN_NOTIFY``) opens no LISTEN
    connection: the process polls. ``admin_token`` may come from ``DBOS_QUEUE_ADMIN_TOKEN``.
    """

    name: str
    system_database_url: str | None
    application_database_url: str | None
    database_url: str | None
    sys_db_pool_size: int | None
    sys_db_polling_concurrency: int | None
    db_engine_kwargs: dict[str, Any] | None
    sys_db_idle_transaction_timeout_sec: float | None
    log_level: str | None
    otlp_log_level: str | None
    console_log_level: str | None
    otlp_traces_endpoints: list[str] | None
    otlp_logs_endpoints: list[str] | None
    otlp_attributes: dict[str, str] | None
    admin_port: int | None
    run_admin_server: bool | None
    application_version: str | None
    executor_id: str | None
    dbos_system_schema: str | None
    enable_otlp: bool | None
    system_database_engine: Any
    conductor_key: str | None
    conductor_url: str | None
    conductor_executor_metadata: dict[str, Any] | None
    conductor_metadata_only_mode: bool | None
    transact_enterprise_key: str | None
    auto_upgrade: bool | None
    auto_upgrade_interval_sec: float | None
    auto_upgrade_grace_sec: float | None
    serializer: Any
    enable_patching: bool | None
    use_listen_notify: bool | None
    sharding: bool | None
    run_migrations: bool | None
    max_executor_threads: int | None
    notification_listener_polling_interval_sec: float | None
    notification_coalesce_sec: float | None
    observability_query_timeout_sec: float | None
    scheduler_polling_interval_sec: float | None
    kafka_queue_polling_interval_sec: float | None
    otel_attribute_format: Literal["legacy", "semconv"] | None
    drain_timeout_sec: float | None
    executor_lease_sec: float | None
    heartbeat_interval_sec: float | None
    max_recovery_attempts: int | None
    admin_host: str | None
    admin_token: str | None
    metrics_enabled: bool | None
    prepare_threshold: int | str | None
    queue_polling_interval_sec: float | None
    schedule_catchup: bool | None
    listen_database_url: str | None
    unknown_workflow_wait_sec: float | None
    workflow_retention_sec: float | None
    workflow_retention_rows: int | None
    workflow_retention_interval_sec: float | None
    max_listening_workers: int | None


KNOWN_KEYS: frozenset[str] = frozenset(DBOSConfig.__optional_keys__)
IGNORED_KEYS = frozenset({
    "conductor_key", "conductor_url",
    "conductor_executor_metadata", "conductor_metadata_only_mode", "transact_enterprise_key",
    "auto_upgrade", "auto_upgrade_interval_sec", "auto_upgrade_grace_sec", "sharding",
    "kafka_queue_polling_interval_sec",
})  # fmt: skip
ENV_VARS = {  # key -> the environment variable that supplies it when the code config does not
    "system_database_url": "DBOS_SYSTEM_DATABASE_URL", "executor_id": "DBOS__VMID",
    "application_version": "DBOS__APPVERSION", "drain_timeout_sec": "DBOS_QUEUE_DRAIN_TIMEOUT_S",
    # PgBouncer set-ups (docs/pgbouncer-and-inputs.md) and the admin server's token; the
    # Helm chart sets these four.
    "listen_database_url": "DBOS_QUEUE_LISTEN_DATABASE_URL",
    "use_listen_notify": "DBOS_QUEUE_USE_LISTEN_NOTIFY",
    "prepare_threshold": "DBOS_QUEUE_PREPARE_THRESHOLD",
    "admin_token": "DBOS_QUEUE_ADMIN_TOKEN",
    "unknown_workflow_wait_sec": "DBOS_QUEUE_UNKNOWN_WORKFLOW_WAIT_SEC",
    "max_listening_workers": "DBOS_QUEUE_MAX_LISTENING_WORKERS",
}  # fmt: skip
DB_KEYS = (
    "system_database_url", "database_url", "application_database_url", "system_database_engine",
)  # fmt: skip
NONE_MEANS_SOMETHING = frozenset({"prepare_threshold"})  # elsewhere None means "default"


def _prepare_switch(value: Any) -> Any:
    # The one PgBouncer switch: "off"/"none" (any case; env values are strings) = None,
    # and so is False: YAML reads a bare `off` as false.
    if value is False:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("off", "none", "null", "false", "no"):
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(
                "Expected an integer >= 0 (executions before psycopg prepares a statement "
                'on the server), or "off" for no server-side prepared statements (PgBouncer '
                "in transaction pooling mode)"
            ) from None
    return value


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1; a boolean in a numeric key is always a slip
    if isinstance(value, bool):
        raise ValueError("Expected a number, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]
Float = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
PosFloat = Annotated[Float, Field(gt=0)]
MinInterval = Annotated[Float, Field(ge=0.001)]  # DBOS's floor for its polling loops
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_LEVELS = frozenset(get_args(LogLevel))


class Settings(BaseModel):
    """The resolved configuration: concrete values for every key dbos_queue uses.

    ``system_database_url`` None means "use the embedded Postgres";
    ``application_version`` None means "compute one from the registered code";
    ``max_executor_threads`` None means unbounded, as in DBOS.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    name: str = Field(DEFAULT_NAME, min_length=1)
    system_database_url: str | None = None
    application_database_url: str | None = None
    sys_db_pool_size: Int = Field(20, ge=1)
    sys_db_polling_concurrency: Int = 10  # non-positive turns the limiter off, as in DBOS
    sys_db_idle_transaction_timeout_sec: Float = 60.0
    # SQLAlchemy keywords as DBOS takes them, applied to our pool (model/engine_kwargs.py)
    db_engine_kwargs: dict[str, Any] | None = None
    log_level: LogLevel = "INFO"
    console_log_level: LogLevel = "INFO"
    admin_port: Int = Field(3001, ge=0, le=65535)  # 0: any free port
    admin_host: str = Field("0.0.0.0", min_length=1)
    admin_token: str | None = None
    run_admin_server: bool = False
    application_version: str | None = None
    executor_id: str = Field("local", min_length=1)
    # Interpolated into SQL as an identifier, so only plain identifiers are allowed.
    dbos_system_schema: str = Field("dbos", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    serializer: Any = "json"
    enable_patching: bool = False
    use_listen_notify: bool = True
    run_migrations: bool = True
    max_executor_threads: Int | None = Field(None, ge=1)
    notification_listener_polling_interval_sec: MinInterval = 1.0
    notification_coalesce_sec: MinInterval = 0.01
    observability_query_timeout_sec: Float = 30.0
    scheduler_polling_interval_sec: PosFloat = 30.0
    queue_polling_interval_sec: PosFloat = 1.0
    drain_timeout_sec: Annotated[Float, Field(ge=0)] = 30.0
    executor_lease_sec: PosFloat = 10.0
    heartbeat_interval_sec: PosFloat = 10.0 / 3
    max_recovery_attempts: Int = Field(100, ge=1)
    metrics_enabled: bool = True
    prepare_threshold: Annotated[Int | None, BeforeValidator(_prepare_switch)] = Field(5, ge=0)
    schedule_catchup: bool = False
    # OpenTelemetry (engine/tracing.py, engine/otlp.py): spans only with enable_otlp, as in DBOS
    enable_otlp: bool = False
    otlp_traces_endpoints: list[str] = Field(default_factory=list)
    otlp_logs_endpoints: list[str] = Field(default_factory=list)
    otlp_attributes: dict[str, str] = Field(default_factory=dict)
    otel_attribute_format: Literal["legacy", "semconv"] = "legacy"
    otlp_log_level: LogLevel | None = None
    listen_database_url: str | None = None  # None: the system database URL
    unknown_workflow_wait_sec: Annotated[Float, Field(ge=0)] = 60.0
    # Automatic retention (queue/retention.py), off unless one of the first two is set:
    # finished workflows older than workflow_retention_sec, and beyond the newest
    # workflow_retention_rows, are deleted by one process of the fleet per interval.
    workflow_retention_sec: Annotated[Float, Field(gt=0)] | None = None
    workflow_retention_rows: Annotated[Int, Field(ge=1)] | None = None
    workflow_retention_interval_sec: PosFloat = 3600.0
    # Listening duty (queue/wakeup.py): 0 lets every worker process listen.
    max_listening_workers: Int = Field(4, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(cast("dict[str, Any]", data))
        for key in ("log_level", "console_log_level", "otlp_log_level"):
            if isinstance(data.get(key), str):
                data[key] = data[key].upper()
        if data.get("log_level") in _LEVELS:  # a bad log_level is reported once, not twice
            data.setdefault("console_log_level", data["log_level"])
        # Derived from a value that may itself be bad; then that value's error is reported.
        lease = _as_number(data.get("executor_lease_sec", 10.0))
        if "heartbeat_interval_sec" not in data and lease is not None and lease > 0:
            data["heartbeat_interval_sec"] = lease / 3
        pool = _as_number(data.get("sys_db_pool_size", 20))
        if "sys_db_polling_concurrency" not in data and pool is not None and pool >= 1:
            data["sys_db_polling_concurrency"] = max(1, int(pool) // 2)
        return data

    @field_validator("system_database_url", "application_database_url", "listen_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return postgres_url(value) if value else None

    @field_validator("serializer")
    @classmethod
    def _serializer(cls, value: Any) -> Any:
        if isinstance(value, str) and value in ("json", "pickle"):
            return value
        if isinstance(value, str) or not all(
            callable(getattr(value, m, None)) for m in ("serialize", "deserialize")
        ):
            raise ValueError(
                'Expected "json", "pickle", or an object with serialize() and deserialize()'
            )
        return value

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> Settings:
        if self.heartbeat_interval_sec >= self.executor_lease_sec:
            raise ValueError(
                f"heartbeat_interval_sec ({self.heartbeat_interval_sec}) must be shorter than "
                f"executor_lease_sec ({self.executor_lease_sec}), or a live executor's lease "
                "expires between heartbeats and its workflows are taken over"
            )
        return self


def postgres_url(value: str) -> str:
    """``value`` as a libpq URL or connection string; ``ValueError`` saying what is wrong."""
    url = normalize(value.strip())
    if "://" in url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("Expected a Postgres URL (postgresql://user:password@host:port/db)")
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        detail = str(exc).strip()
        raise ValueError(f"Expected a Postgres connection string ({detail})") from None
    return url


def prepare_threshold(value: Any) -> int | None:
    """Read the PgBouncer switch: an integer >= 0, or None/"off"/"none" (no server-side
    prepared statements). ``ValueError`` saying what is accepted otherwise."""
    value = _prepare_switch(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f'Expected an integer >= 0, or "off" for no server-side prepared statements, '
            f"not {value!r}"
        )
    return value


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_keys(
    mapping: Mapping[Any, Any], allowed: Any, *, path: Path | None = None, prefix: str = ""
) -> None:
    """Raise ``DBOSConfigError`` at the first key of ``mapping`` not in ``allowed``, with
    a "did you mean" (or the keys allowed there)."""
    for key in mapping:
        if isinstance(key, str) and key in allowed:
            continue
        where = f" in {path}" if path else ""
        msg = f"Unknown config key '{prefix}{key}'{where}."
        by_lower = {k.lower(): k for k in allowed}
        close = difflib.get_close_matches(str(key).lower(), list(by_lower), n=1, cutoff=0.6)
        if close:
            msg += f" Did you mean '{prefix}{by_lower[close[0]]}'?"
        elif len(allowed) <= 12:
            msg += f" Known keys here: {', '.join(sorted(allowed))}."
        else:
            msg += " DBOSConfig in dbos_queue.model.config lists the known keys."
        raise DBOSConfigError(msg)
