"""dlc: a compiler for neural-network specs written in the .dl language."""

__version__ = "0.1.0"
