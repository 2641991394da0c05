"""Exit codes: the CLI's contract with scripts, CI and teachers."""

import enum


class ExitStatus(enum.IntEnum):
    OK = 0  # graded, whatever the score; or the command did what it was asked
    ERROR = 1  # something went wrong that is not the user's input nor the engine
    USAGE = 2  # bad arguments, unknown exercise, no such folder
    ENGINE_UNAVAILABLE = 3  # no Docker engine answers (or compose v2 is missing)
    INTERRUPTED = 130  # Ctrl-C
