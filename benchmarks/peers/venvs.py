"""One throwaway virtualenv per peer, kept in a cache directory between runs.

A venv is reused while its recorded pip specs (``.bench-spec``) match; the dbos_queue
venv additionally reinstalls the checkout's own code on every run (``--no-deps``), so
what is measured is always the working tree, installed as a user would install it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from .plan import PEER_SPECS

STAMP = ".bench-spec"
IMPORT_CHECK = {
    "dbos": "from dbos import DBOS, DBOSClient",
    "pgqueuer": "import pgqueuer, asyncpg, psycopg",
    "procrastinate": "import procrastinate, psycopg",
    "dbos_queue": "from dbos_queue import DBOS, DBOSClient",
    "chart": "import matplotlib",
}
# not a peer: renders the PNGs when the orchestrator's interpreter lacks matplotlib
TOOL_SPECS: dict[str, list[str]] = {"chart": ["matplotlib"]}


class VenvError(RuntimeError):
    """A virtualenv could not be built; the message carries pip's output tail."""


def python_of(venv: Path) -> Path:
    """The interpreter inside ``venv``."""
    return venv / "bin" / "python"


def _pip(venv: Path, args: list[str], log: Path) -> None:
    cmd = [str(python_of(venv)), "-m", "pip", "install", "-q", *args]
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        lines = [ln for ln in log.read_text().splitlines() if "Location" not in ln]
        raise VenvError(
            f"pip install {' '.join(args)} failed (log {log}):\n" + "\n".join(lines[-15:])
        )


def _checkout_digest(repo: Path) -> str:
    """Changes when the checkout's dependency list may have changed."""
    return hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()[:16]


def _import_ok(venv: Path, peer: str) -> str | None:
    proc = subprocess.run(
        [str(python_of(venv)), "-c", IMPORT_CHECK[peer]], capture_output=True, text=True
    )
    return None if proc.returncode == 0 else proc.stderr.strip()[-800:]


def ensure_venv(cache: Path, peer: str, repo: Path, python: str, rebuild: bool, log: Path) -> Path:
    """Create or reuse the venv for ``peer``; returns its directory."""
    venv = cache / peer
    specs = list(PEER_SPECS.get(peer) or TOOL_SPECS[peer])
    stamp = {"python": python, "specs": specs}
    if peer == "dbos_queue":
        stamp["pyproject"] = _checkout_digest(repo)
    stamp_file = venv / STAMP
    fresh = rebuild or not stamp_file.exists() or json.loads(stamp_file.read_text()) != stamp
    if fresh:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        _pip(venv, ["--upgrade", "pip"], log)
        _pip(venv, specs + ([str(repo)] if peer == "dbos_queue" else []), log)
        stamp_file.write_text(json.dumps(stamp))
    elif peer == "dbos_queue":
        _pip(venv, ["--no-deps", "--force-reinstall", str(repo)], log)
    problem = _import_ok(venv, peer)
    if problem:
        raise VenvError(f"{peer} venv at {venv} cannot import its library:\n{problem}")
    return venv


def versions(venv: Path, peer: str) -> str:
    """The peer's library (first) and database driver versions, from ``pip list``."""
    out = subprocess.run(
        [str(python_of(venv)), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
    ).stdout
    have = {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(out or "[]")}
    names = [peer.replace("_", "-"), "psycopg", "asyncpg", "sqlalchemy"]
    return ", ".join(f"{n} {have[n]}" for n in names if n in have)


def ensure_all(
    cache: Path, peers: list[str], repo: Path, python: str | None, rebuild: bool, log: Path
) -> dict[str, Path]:
    """Every selected peer's venv; raises VenvError naming the first that failed."""
    cache.mkdir(parents=True, exist_ok=True)
    interp = python or sys.executable
    out: dict[str, Path] = {}
    for peer in peers:
        print(f"# venv {peer}: {cache / peer}", file=sys.stderr, flush=True)
        out[peer] = ensure_venv(cache, peer, repo, interp, rebuild, log)
    return out
