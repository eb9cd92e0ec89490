"""Reading ``dbos-config.yaml``: the DBOS Python shape and the DBOS TypeScript
``database:`` shape, flattened into a ``DBOSConfig`` dict, ``${VAR}`` expanded.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

import yaml

from dbos_queue.error import DBOSConfigError
from dbos_queue.model.settings import (
    DB_KEYS,
    DEFAULT_NAME,
    KNOWN_KEYS,
    SYSDB_SUFFIX,
    check_keys,
)

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
    if ts and not any(out.get(k) for k in DB_KEYS):
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
    check_keys(node, children, path=path, prefix=prefix)
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
