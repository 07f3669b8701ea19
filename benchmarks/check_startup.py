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
    print(f"  {'':<40} {'wall':>11}  {'cpu':>11}")
    print(f"  {'python -c pass':<40} {ms(python.wall):>11}  {ms(python.cpu):>11}")
    print(f"  {'dlc check ' + EXAMPLE:<40} {ms(check.wall):>11}  {ms(check.cpu):>11}")
    print(f"  {'ratio':<40} {check.wall / python.wall:>10.1f}x  {check.cpu / python.cpu:>10.1f}x")
    print(f"  {'dlc check beyond interpreter start':<40} {ms(check.wall - python.wall):>11}")


if __name__ == "__main__":
    main()
