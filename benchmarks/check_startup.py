"""Fixed cost of one `dlc check`: a small example as a whole process, beside a bare `python -c pass`."""

from __future__ import annotations

import sys

from _harness import REPO, dlc_command, ms, time_process

EXAMPLE = "examples/digits_convnet.dl"
REPEATS = 5


def main() -> None:
    dlc = dlc_command()
    python = time_process([sys.executable, "-c", "pass"], REPEATS)
    check = time_process([*dlc, "check", EXAMPLE], REPEATS)
    print(f"  best of {REPEATS}, run in {REPO}")
    print(f"  {'python -c pass':<42} {ms(python):>12}")
    print(f"  {' '.join(['dlc', 'check', EXAMPLE]):<42} {ms(check):>12}")
    print(f"  {'ratio':<42} {check / python:>11.1f}x")
    print(f"  {'dlc check beyond interpreter start':<42} {ms(check - python):>12}")


if __name__ == "__main__":
    main()
