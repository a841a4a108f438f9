"""``python -m ucfbench <command> ...``: the ``ucfbench`` command without its script."""

import sys

from ucfbench.cli.entry import main

sys.exit(main())
