#!/usr/bin/env python3
"""greet: a tiny command-line tool.

    python greet.py Alice Bob     ->  Hey, Alice!
                                      Hey, Bob!
The greeting comes from the GREETING environment variable (default: Hey).
With no names it prints a usage line to stderr and exits with status 2.
"""

import os
import sys


def main(names: list[str]) -> int:
    if not names:
        print("usage: greet.py NAME [NAME ...]   (greeting from $GREETING, default Hey)", file=sys.stderr)
        return 2
    greeting = os.environ.get("GREETING") or "Hey"
    for name in names:
        print(f"{greeting}, {name}!")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
