"""`dockyard` and `python -m dockyard`. A `grade` or `check` goes to the warm resident grader when one listens
(dockyard/resident), before anything heavy is imported; everything else, and those when none listens, runs here
(dockyard.cli)."""

import sys


def main() -> int:
    arguments = sys.argv[1:]
    if arguments[:1] in (["grade"], ["check"]):
        from dockyard.resident import client

        if client.wanted(arguments):
            handed_over = client.run(arguments)
            if handed_over is not None:
                return handed_over
    from dockyard.cli import main as run_here

    return run_here()


if __name__ == "__main__":
    sys.exit(main())
