"""Hand a grading's teardown to a detached copy of the grading child, once its report is on disk.

The report is final when the last item ends; what follows (the sandbox's sweep, `compose down -v`) only
removes what the grading made, and the learner need not wait for it. So at that point the child forks:
- the child itself ends at once, and the runner, which waits for it, reads the report and returns;
- the copy goes on with pytest's teardown exactly as the child would have. It inherits the run's mark, held
  since the sandbox was made, so the run is now one whose maker has ended but whose mark is held: tearing down
  (engine/runs.py: counts and sweeps wait for it). Before anything else the copy closes every pipe it
  inherited: the runner's progress pipe and multiprocessing's exit sentinel must reach end-of-file when the
  child ends, not when the copy does. It is no one's child (its parent has ended), in its own session, so
  neither the caller's exit nor a Ctrl-C at the terminal stops it; an alarm bounds it instead.
Only the callers that ask for it (`detach_teardown=True`) get this; the others wait for the sweep, as before.
"""

from __future__ import annotations

import os
import signal
import stat
import sys

from dockyard.rubric import rss

TEARDOWN_LIMIT_S = 300  # a copy still tearing down after this is killed (SIGALRM); `dockyard clean` sweeps the rest


def hand_off(rss_file: str | None) -> None:
    """Fork. In the child: record its peak memory and end (never returns). In the copy: return, detached."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if os.fork():
        if rss_file:
            try:
                rss.record_own_peak(rss_file)
            except Exception:
                pass
        os._exit(0)
    os.environ.pop("DOCKYARD_PROGRESS_FD", None)  # progress lines now go nowhere (progress.emit is silent)
    _close_inherited_pipes()
    signal.alarm(TEARDOWN_LIMIT_S)


def _close_inherited_pipes() -> None:
    """Close every pipe but stdin/stdout/stderr: whoever waits on one for the child's end must not wait for us."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 256))
    for fd in fds:
        if fd <= 2:
            continue
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            pass  # the listing's own fd, gone already
