"""`python -m dlc` runs the dlc command line."""

import sys

from .cli import main

sys.exit(main())
