"""Container entry point: ``python -m workers.entrypoint APP_MODULE [options]``.

Equivalent to ``dbos-queue worker APP_MODULE [options]``, which is what
workers/Dockerfile and the Helm chart run; use this form where the console
script is not on PATH.
"""

import sys

from dbos_queue.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
