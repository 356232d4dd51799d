"""``python -m diffusion``: the ``rcc-diffusion`` command line (see :mod:`diffusion.cli`)."""
import sys

from .cli import main

sys.exit(main())
