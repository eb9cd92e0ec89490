"""Side-by-side peer benchmark: dbos_queue against DBOS, pgqueuer and procrastinate.

Run from the repository root with ``python -m benchmarks.peers`` (see README.md here).
The orchestrator (this package) uses the standard library only; the workload drivers
in ``drivers/`` run inside one throwaway virtualenv per peer.
"""
