"""Entry point: ``python -m benchmarks.peers``."""

import sys

from .cli import main

sys.exit(main())
