"""Workload drivers, run inside each peer's virtualenv (``python -m drivers.drive``).

Standard library plus the peer's own library (and psycopg for the checks); nothing here
imports the orchestrator, so the folder works on its own on ``PYTHONPATH``.
"""
