"""Configuration: one validated model, read from ``DBOS(config=...)``, ``dbos-config.yaml``
and the environment in one place.

``resolve()`` is the entry point. For each key the code config dict wins, then the
environment, then ``dbos-config.yaml`` (read only when no dict is passed, as DBOS
does), then the default. Every key DBOS Python 2.x and 3.x accept is known here, so
a DBOS user's config never breaks; the ones we have no use for are accepted and
ignored. A typo is an error with a "did you mean".
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
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
from urllib.parse import quote, urlencode

import psycopg.conninfo
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dbos_queue.error import DBOSConfigError
from dbos_queue.model.pgurl import database_name, normalize, with_database

logger = logging.getLogger("dbos_queue.config")

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
    no server-side prepared statements, for PgBouncer in transaction mode),
    ``queue_polling_interval_sec`` 1.0 (fallback poll), ``schedule_catchup`` False,
    ``listen_database_url`` the system database URL (env ``DBOS_QUEUE_LISTEN_DATABASE_URL``;
    where the one LISTEN connection goes: straight to Postgres when the system URL is a
    pooler's), ``unknown_workflow_wait_sec`` 60 (how long a dequeued workflow whose function
    no live worker registers waits for one before it ends ERROR; env
    ``DBOS_QUEUE_UNKNOWN_WORKFLOW_WAIT_SEC``), ``workflow_retention_sec`` /
    ``workflow_retention_rows`` None (automatic retention, off; once per
    ``workflow_retention_interval_sec``, 3600, fleet-wide). DBOS's
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


KNOWN_KEYS: frozenset[str] = frozenset(DBOSConfig.__optional_keys__)
IGNORED_KEYS = frozenset({
    "db_engine_kwargs", "conductor_key", "conductor_url",
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
}  # fmt: skip
_DB_KEYS = (
    "system_database_url", "database_url", "application_database_url", "system_database_engine",
)  # fmt: skip
_NONE_MEANS_SOMETHING = frozenset({"prepare_threshold"})  # elsewhere None means "default"


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


def resolve(
    config: Mapping[str, Any] | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the code config, the environment and ``dbos-config.yaml`` into ``Settings``.

    ``dbos-config.yaml`` in ``cwd`` is read only when ``config`` is None. Raises
    ``DBOSConfigError`` naming the offending key, value and source.
    """
    env = os.environ if environ is None else environ
    if config is not None:
        if not isinstance(cast(object, config), Mapping):  # untyped callers pass anything
            raise DBOSConfigError(f"DBOS(config=...) must be a dict, not {type(config).__name__}")
        _check_keys(config, KNOWN_KEYS)
        given, origin = dict(config), "DBOS(config=...)"
    else:
        path = Path(cwd if cwd is not None else Path.cwd()) / CONFIG_FILE
        given = load_yaml(path, environ=env) if path.is_file() else {}
        origin = str(path)
    raw = {k: v for k, v in given.items() if v is not None or k in _NONE_MEANS_SOMETHING}
    sources = {key: origin for key in raw}
    _apply_env(raw, sources, env, from_code=config is not None)
    _fold_database_urls(raw, sources)
    if raw.get("enable_patching") is True and sources.get("application_version") in (
        None, f"environment variable {ENV_VARS['application_version']}",
    ):  # fmt: skip
        # DBOS: enable_patching pins one version for every deployment, over the env's
        raw["application_version"] = "PATCHING_ENABLED"
    ignored = sorted(IGNORED_KEYS & raw.keys())
    if ignored:
        logger.debug("Config keys accepted for DBOS compatibility but unused: %s", ignored)
    for key in (*IGNORED_KEYS, "database_url", "system_database_engine"):
        raw.pop(key, None)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise DBOSConfigError(_describe(exc, sources)) from None


def _apply_env(
    raw: dict[str, Any], sources: dict[str, str], env: Mapping[str, str], *, from_code: bool
) -> None:
    # The environment overrides the file (it is how deployments adjust one), never the code.
    names_a_db = any(raw.get(k) for k in _DB_KEYS)
    for key, var in ENV_VARS.items():
        value = env.get(var)
        if not value:
            continue
        if from_code and (key in raw or (key == "system_database_url" and names_a_db)):
            continue
        raw[key] = value
        sources[key] = f"environment variable {var}"


def _fold_database_urls(raw: dict[str, Any], sources: dict[str, str]) -> None:
    legacy, app = raw.get("database_url"), raw.get("application_database_url")
    if legacy and app and legacy != app:
        raise DBOSConfigError(
            "Both database_url and application_database_url are set, to different URLs; "
            "database_url is the old name of application_database_url, so keep only one."
        )
    app_key = "database_url" if legacy else "application_database_url"
    if legacy:
        raw["application_database_url"] = legacy
        sources["application_database_url"] = f"{sources['database_url']}, as database_url"
    if raw.get("system_database_url"):
        return
    engine = raw.get("system_database_engine")
    url = getattr(engine, "url", None)
    if url is not None:
        render = getattr(url, "render_as_string", None)
        raw["system_database_url"] = render(hide_password=False) if render else str(url)
        sources["system_database_url"] = sources["system_database_engine"]
    elif legacy or app:
        try:
            base = str(raw[app_key])
            raw["system_database_url"] = with_database(base, database_name(base) + SYSDB_SUFFIX)
            sources["system_database_url"] = f"{sources[app_key]}, derived from {app_key}"
        except Exception:
            pass


def _describe(exc: ValidationError, sources: Mapping[str, str]) -> str:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        loc = err["loc"]
        if not loc:
            lines.append(f"Invalid configuration: {msg}.")
            continue
        key = str(loc[0])
        path = key + "".join(f"[{part!r}]" for part in loc[1:])
        source = f" (from {sources[key]})" if key in sources else ""
        shown = _show(key, err.get("input"))
        lines.append(f"Invalid value for config key '{path}'{source}: {shown}. {msg}.")
    return "\n".join(lines)


def _show(key: str, value: Any) -> str:
    # Error messages end up in logs: never print secrets or database passwords.
    if key == "admin_token" and value is not None:
        return "'***'"
    if isinstance(value, str) and key.endswith("_url"):
        value = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)
        value = re.sub(r"(password\s*=\s*)\S+", r"\1***", value)
    return repr(value)


def _check_keys(
    mapping: Mapping[Any, Any], allowed: Any, *, path: Path | None = None, prefix: str = ""
) -> None:
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


# ---- dbos-config.yaml -----------------------------------------------------------------

_VAR = re.compile(r"\$\{([^}]+)\}")
_TS_DB_KEYS = ("hostname", "port", "username", "password", "connectionTimeoutMillis",
               "app_db_name", "sys_db_name", "local_suffix", "ssl", "ssl_ca")  # fmt: skip
# Where each key of the file lands in the flat dict: a key name, "ts" (collected to build
# the URLs of the TypeScript-era `database:` section), or None (accepted, unused here).
_YAML: dict[tuple[str, ...], str | None] = {
    **{(key,): key for key in KNOWN_KEYS},  # any flat key may sit at the top, as in code
    ("language",): None, ("env",): None, ("runtimeConfig", "start"): None,
    ("runtimeConfig", "setup"): None, ("database", "migrate"): None,
    ("database", "rollback"): None, ("database", "app_db_client"): None,
    **{("runtimeConfig", key): key for key in (
        "admin_port", "run_admin_server", "max_executor_threads",
        "notification_listener_polling_interval_sec", "notification_coalesce_sec",
        "observability_query_timeout_sec", "scheduler_polling_interval_sec",
        "kafka_queue_polling_interval_sec", "auto_upgrade_interval_sec",
        "auto_upgrade_grace_sec")},
    **{("database", key): key for key in (
        "sys_db_pool_size", "sys_db_polling_concurrency", "db_engine_kwargs",
        "sys_db_idle_transaction_timeout_sec", "listen_database_url")},
    **{("database", key): "ts" for key in _TS_DB_KEYS},
    ("telemetry", "logs", "logLevel"): "log_level",
    ("telemetry", "logs", "consoleLogLevel"): "console_log_level",
    ("telemetry", "logs", "otlpLogLevel"): "otlp_log_level",
    ("telemetry", "OTLPExporter", "logsEndpoint"): "otlp_logs_endpoints",
    ("telemetry", "OTLPExporter", "tracesEndpoint"): "otlp_traces_endpoints",
    ("telemetry", "otlp_attributes"): "otlp_attributes",
    ("telemetry", "otel_attribute_format"): "otel_attribute_format",
    ("telemetry", "disable_otlp"): "enable_otlp",
}  # fmt: skip


def load_yaml(path: Path | str, *, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read a ``dbos-config.yaml`` into a flat ``DBOSConfig`` dict.

    Accepts the DBOS Python shape and the DBOS TypeScript ``database:`` shape
    (hostname, port, username, ... from which Postgres URLs are built), and expands
    ``${VAR}`` and ``${VAR:-default}`` in string values from ``environ``.
    """
    path = Path(path)
    env = os.environ if environ is None else environ
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DBOSConfigError(f"Cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise DBOSConfigError(f"{path} is not valid YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise DBOSConfigError(f"{path} must hold a mapping of keys, not {type(doc).__name__}")
    # Expanded after parsing, so a value cannot change the document's structure and a
    # ${VAR} inside a comment is never looked up.
    out: dict[str, Any] = {}
    ts: dict[str, Any] = {}
    _walk(_expand(doc, env, path), (), path, out, ts)
    if ts and not any(out.get(k) for k in _DB_KEYS):
        _ts_urls(ts, str(out.get("name") or DEFAULT_NAME), out, path)
    return out


def _expand(node: Any, env: Mapping[str, str], path: Path) -> Any:
    if isinstance(node, str):
        return _VAR.sub(lambda m: _lookup(m.group(1), env, path), node)
    if isinstance(node, list):
        return [_expand(item, env, path) for item in cast("list[Any]", node)]
    if isinstance(node, dict):
        items = cast("dict[Any, Any]", node).items()
        return {key: _expand(value, env, path) for key, value in items}
    return node


def _lookup(expr: str, env: Mapping[str, str], path: Path) -> str:
    name, has_default, default = expr.partition(":-")
    value = env.get(name)
    if value or (value is not None and not has_default):
        return value
    if has_default:  # like the shell: the default also replaces an empty value
        return default
    raise DBOSConfigError(
        f"{path} uses ${{{name}}}, but environment variable {name} is not set. "
        f"Set it, or write ${{{name}:-default}} to give a default."
    )


def _walk(
    node: dict[Any, Any], at: tuple[str, ...], path: Path, out: dict[str, Any], ts: dict[str, Any]
) -> None:
    children = {p[len(at)] for p in _YAML if len(p) > len(at) and p[: len(at)] == at}
    prefix = "".join(f"{part}." for part in at)
    _check_keys(node, children, path=path, prefix=prefix)
    for key, value in node.items():
        here = (*at, key)
        if here not in _YAML:  # a section
            if value is not None and not isinstance(value, dict):
                raise DBOSConfigError(f"'{prefix}{key}' in {path} must be a mapping, not {value!r}")
            _walk(cast("dict[Any, Any]", value or {}), here, path, out, ts)
            continue
        flat = _YAML[here]
        if flat == "ts":
            ts[key] = value
        elif flat is not None:
            if flat in out:
                raise DBOSConfigError(f"{path} sets {flat} twice (once as {prefix}{key})")
            if key == "disable_otlp":
                value = not _truthy(value)
            elif key in ("logsEndpoint", "tracesEndpoint") and isinstance(value, str):
                value = [value]  # DBOS lets the file give one endpoint as a plain string
            out[flat] = value


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")


def _ts_urls(db: dict[str, Any], name: str, out: dict[str, Any], path: Path) -> None:
    """Build URLs from the TypeScript-era ``database:`` section, with its defaults."""
    try:
        port = int(str(db.get("port") or 5432))
        timeout_ms = db.get("connectionTimeoutMillis")
        timeout = math.ceil(float(timeout_ms) / 1000) if timeout_ms not in (None, "") else None
    except ValueError as exc:
        msg = f"Bad database.port or database.connectionTimeoutMillis in {path}: {exc}"
        raise DBOSConfigError(msg) from None
    host = str(db.get("hostname") or "localhost")
    host = f"[{host}]" if ":" in host else host
    auth = quote(str(db.get("username") or "postgres"), safe="")
    if db.get("password") not in (None, ""):
        auth += ":" + quote(str(db["password"]), safe="")
    app_db = db.get("app_db_name")
    base = str(app_db) if app_db else re.sub(r"[-\s]", "_", name).lower()
    base = f"_{base}" if base[:1].isdigit() else base
    if _truthy(db.get("local_suffix")):
        base += "_local"
    params: dict[str, str] = {}
    if timeout:
        params["connect_timeout"] = str(max(1, timeout))
    if db.get("ssl_ca"):
        params.update(sslmode="verify-full", sslrootcert=str(db["ssl_ca"]))
    elif "ssl" in db:
        params["sslmode"] = "require" if _truthy(db["ssl"]) else "disable"
    query = f"?{urlencode(params)}" if params else ""

    def url(dbname: str) -> str:
        return f"postgresql://{auth}@{host}:{port}/{quote(dbname, safe='')}{query}"

    out["system_database_url"] = url(str(db.get("sys_db_name") or base + SYSDB_SUFFIX))
    if app_db:
        out["application_database_url"] = url(base)
