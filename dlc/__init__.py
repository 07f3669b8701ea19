"""The `dlc` command line: the top of the house, above compiler/ and backends/.

It is the only package that names both: the compiler never imports a backend, and a backend never
imports the command line.
"""

from compiler import __version__

__all__ = ["__version__"]
