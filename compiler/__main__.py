"""`python -m compiler` runs the dlc command line."""

import sys

from .cli import main

sys.exit(main())
