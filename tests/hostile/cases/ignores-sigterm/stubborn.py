# Serves the course app but ignores SIGTERM, so `docker stop` has to wait and then kill it.
import runpy
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
runpy.run_path("app.py", run_name="__main__")
