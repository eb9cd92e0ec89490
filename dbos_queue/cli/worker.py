"""``dbos-queue worker APP_MODULE``: a process that runs workflows from queues.

The app module declares workflows and queues (and may call ``DBOS(config=...)``;
otherwise dbos-config.yaml / the environment configure it). SIGTERM or SIGINT
starts a drain: stop claiming, wait up to the drain timeout for running
workflows, hand the rest back to their queues, exit 0. SIGUSR1 prints every
thread's stack to stderr (a stuck worker shows where it waits) and goes on.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from dbos_queue.cli.signals import StopSignals

if TYPE_CHECKING:
    from dbos_queue.api.runtime import Runtime

logger = logging.getLogger("dbos_queue")


def run_worker(args: argparse.Namespace) -> int:
    """``dbos-queue worker``: import the app, launch DBOS, serve its queues until a signal."""
    from dbos_queue.api.dbos import DBOS

    failed = _load_app(args)
    if failed is not None:
        return failed
    rt = _launch(args)
    drain_timeout = (
        args.drain_timeout if args.drain_timeout is not None else rt.settings.drain_timeout_sec
    )
    _serve_until_signal(rt, args.queues, drain_timeout)
    # The drain hands a workflow back only once no step of it runs here any more (at
    # most the step running when the timeout hit runs again elsewhere).
    try:
        released = rt.drain(drain_timeout)
    except Exception as exc:  # database unreachable: the lease lapses and others take over
        logger.warning("drain failed (%s); unfinished work is taken over after the lease", exc)
        released = []
    DBOS.destroy()
    print(f"dbos-queue worker stopped; handed back {len(released)} workflow(s)", flush=True)
    sys.stderr.flush()
    # Threads still inside user code own nothing now (their writes are fenced off);
    # do not let the interpreter wait for them at exit.
    os._exit(0)


def _load_app(args: argparse.Namespace) -> int | None:
    """Import the app module and configure DBOS for it; the exit code when that fails."""
    from dbos_queue.api import dbos as _dbos
    from dbos_queue.api.dbos import DBOS

    sys.path.insert(0, os.getcwd())
    if args.executor_id:
        os.environ["DBOS__VMID"] = args.executor_id
    try:
        importlib.import_module(args.app_module)
    except ImportError as exc:
        print(f"dbos-queue worker: cannot import {args.app_module!r}: {exc}", file=sys.stderr)
        return 2
    if _dbos.FacadeState.instance is None or not getattr(
        _dbos.FacadeState.instance, "_initialized", False
    ):
        DBOS()
    if args.queues:
        unknown = [q for q in args.queues if q not in _dbos.registry.queues]
        if unknown:
            known = ", ".join(sorted(_dbos.registry.queues)) or "none"
            print(
                f"dbos-queue worker: {args.app_module} declares no queue named "
                f"{', '.join(unknown)} (known: {known})",
                file=sys.stderr,
            )
            return 2
        DBOS.listen_queues(args.queues)
    return None


def _launch(args: argparse.Namespace) -> Runtime:
    """Launch DBOS (unless the app did), with the worker's concurrency cap and admin server."""
    from dbos_queue.api import dbos as _dbos
    from dbos_queue.api.dbos import DBOS

    if _dbos.registry.process is None:
        DBOS.launch()
    rt = _dbos._rt()
    if args.concurrency:
        rt.queues.process_cap = args.concurrency
    if rt.admin is None and not args.no_admin:
        port = args.admin_port if args.admin_port is not None else rt.settings.admin_port
        rt.start_admin(rt.settings.admin_host, port)
    return rt


def _serve_until_signal(rt: Runtime, queues: list[str] | None, drain_timeout: float) -> None:
    """Say the worker is ready, then wait for SIGTERM or SIGINT (the queues run meanwhile)."""
    from dbos_queue.api import dbos as _dbos

    stop = StopSignals(signal.SIGTERM, signal.SIGINT)
    # `kill -USR1 <pid>`: where is each thread now? (unless the app handles SIGUSR1 itself)
    if hasattr(signal, "SIGUSR1") and signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL:
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    logger.info(
        "worker %s (executor %s) listening to %s",
        rt.process_id,
        rt.executor_id,
        queues or sorted(_dbos.registry.queues),
    )
    admin = f" admin_port={rt.admin.port}" if rt.admin is not None else ""
    print(f"dbos-queue worker ready pid={os.getpid()}{admin}", flush=True)
    signum = stop.wait()
    logger.info("received %s: draining (up to %.0fs)", signum.name, drain_timeout)
