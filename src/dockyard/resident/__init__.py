"""The resident grader: `dockyard grade` and `dockyard check` handed to a process that is already warm.

A learner presses Check dozens of times an hour, and each press used to start Python and import the
grader (the Docker SDK, pytest, the probes: ~0.25 s of a ~0.7 s grading) before Docker did anything.
The resident grader pays that once. It is a small server per user and per installed copy of Dockyard,
listening on a unix socket in a folder only its user can enter:
- the `dockyard` command (client.py) connects, sends its argv, working folder and environment, and
  passes its own stdin, stdout and stderr (SCM_RIGHTS), so the output lands exactly where it would
  have (a terminal stays a terminal: colours, width, Ctrl-C);
- the server (server.py) forks one command process per request, which takes those as its own and runs
  the same `dockyard.cli.main` the command would have run, so every outcome, exit status and cleanup
  is the ordinary one; it reports its pid (signals are forwarded to it) and then its exit status;
- the server is started by the first command that finds none (that command runs as before, in its own
  process), and exits after DOCKYARD_RESIDENT_IDLE_S (default 600) without a request.
It never runs stale code: the socket's name is a fingerprint of the interpreter and of every source
file of the package, so an edited or upgraded Dockyard gets a new server and the old one idles out.
DOCKYARD_RESIDENT=0 turns it off (the test suite does, but for the tests of the server itself).
"""
