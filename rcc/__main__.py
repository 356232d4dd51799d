"""``python -m rcc``: the ``rcc`` command line (see :mod:`rcc.cli`)."""
import sys

from .cli import main

sys.exit(main())
