"""Configuration: one validated model, read from ``DBOS(config=...)``, ``dbos-config.yaml``
and the environment in one place.

``resolve()`` is the entry point. For each key the code config dict wins, then the
environment, then ``dbos-config.yaml`` (read only when no dict is passed, as DBOS
does), then the default. Every key DBOS Python 2.x and 3.x accept is known here, so
a DBOS user's config never breaks; the ones we have no use for are accepted and
ignored. A typo is an error with a "did you mean".

The schema (``DBOSConfig``, ``Settings``, the key lists) is in model/settings.py and
the file reader in model/config_yaml.py; every name is importable from here too.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from dbos_queue.error import DBOSConfigError
from dbos_queue.model import engine_kwargs as _engine_kwargs
from dbos_queue.model.config_yaml import load_yaml
from dbos_queue.model.pgurl import database_name, with_database
from dbos_queue.model.settings import (
    CONFIG_FILE,
    DB_KEYS,
    DEFAULT_NAME,
    ENV_VARS,
    IGNORED_KEYS,
    KNOWN_KEYS,
    NONE_MEANS_SOMETHING,
    SYSDB_SUFFIX,
    DBOSConfig,
    Float,
    Int,
    LogLevel,
    MinInterval,
    PosFloat,
    Settings,
    check_keys,
    postgres_url,
    prepare_threshold,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_NAME",
    "ENV_VARS",
    "IGNORED_KEYS",
    "KNOWN_KEYS",
    "SYSDB_SUFFIX",
    "DBOSConfig",
    "Float",
    "Int",
    "LogLevel",
    "MinInterval",
    "PosFloat",
    "Settings",
    "load_yaml",
    "postgres_url",
    "prepare_threshold",
    "resolve",
]

logger = logging.getLogger("dbos_queue.config")


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
        check_keys(config, KNOWN_KEYS)
        given, origin = dict(config), "DBOS(config=...)"
    else:
        path = Path(cwd if cwd is not None else Path.cwd()) / CONFIG_FILE
        given = load_yaml(path, environ=env) if path.is_file() else {}
        origin = str(path)
    raw = {k: v for k, v in given.items() if v is not None or k in NONE_MEANS_SOMETHING}
    sources = {key: origin for key in raw}
    _apply_env(raw, sources, env, from_code=config is not None)
    _fold_database_urls(raw, sources)
    if raw.get("enable_patching") is True and sources.get("application_version") in (
        None, f"environment variable {ENV_VARS['application_version']}",
    ):  # fmt: skip
        # DBOS: enable_patching pins one version for every deployment, over the env's
        raw["application_version"] = "PATCHING_ENABLED"
    try:
        _engine_kwargs.fold_into(raw)
    except ValueError as exc:
        raise DBOSConfigError(f"{exc} (from {sources.get('db_engine_kwargs')})") from None
    if raw.get("auto_upgrade") is True:
        logger.warning(
            "auto_upgrade is a DBOS enterprise feature that dbos_queue does not provide: "
            "workflows of older application versions are not moved to the latest one "
            "(fork_workflow(..., application_version=...) moves one)"
        )
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
    names_a_db = any(raw.get(k) for k in DB_KEYS)
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
