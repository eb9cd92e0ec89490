"""``python -m dbos_queue.cli``."""

import sys

from dbos_queue.cli.main import main

sys.exit(main())
