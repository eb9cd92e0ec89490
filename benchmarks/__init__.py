"""Benchmark scripts for dbos_queue (run as ``python -m benchmarks.<name>``; see README.md)."""
