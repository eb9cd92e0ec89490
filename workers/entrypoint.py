"""Container entry point: ``python -m workers.entrypoint APP_MODULE [options]``.

Equivalent to ``dbos-queue worker APP_MODULE [options]``; the Helm chart and
workers/Dockerfile run exactly this.
"""

import sys

from dbos_queue.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
