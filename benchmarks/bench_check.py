"""The notebook's Check button: from the click to the rendered result, against the raw docker CLI.

Presses the real Check widget (dockyard.notebook.widgets.check_widget, what a notebook cell shows) as the
front end does, through the button's click handler, in the kernel's own process, and times until the
result HTML is set and the button is back (the widget's work is done). Alternates with the raw CLI
sequence of bench_grade.py doing the same Docker work. Prints the medians, the spread over the rounds,
and the difference (target: at most raw + 0.3 s on 03-first-image).

    python benchmarks/bench_check.py [03-first-image] [solutions/03-first-image] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_grade import prepare, raw_once  # noqa: E402  (the same raw sequence, the same solution overlay)

from dockyard.engine import runs  # noqa: E402


def press_check(widget, timeout_s: float = 300) -> float:
    """Click, then wait for the widget to render its result: the seconds a learner waits."""
    button, result = widget.children[0].children[0], widget.children[1]
    done = threading.Event()

    def rendered(change) -> None:
        if change["new"]:
            done.set()

    result.observe(rendered, names="value")
    started = time.perf_counter()
    button.click()  # the front end's click: the handler starts the grading in its thread
    if not done.wait(timeout_s):
        raise SystemExit("the Check widget showed no result")
    while button.disabled:  # the result is in; the widget finishes (label, button) right after
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    result.unobserve(rendered, names="value")
    if "not graded" in widget.children[0].children[2].value:
        raise SystemExit(f"the Check did not grade: {result.value[:300]}")
    runs.wait_for_teardowns()  # untimed: the grading's detached teardown must not share the engine with the next timing
    return elapsed


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", default="03-first-image")
    parser.add_argument("folder", nargs="?", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--path", default="/")
    args = parser.parse_args()
    from dockyard.notebook.widgets import check_widget

    folder = Path(args.folder or f"solutions/{args.exercise}")
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as scratch:
        submission = prepare(args.exercise, folder, Path(scratch) / "submission")
        widget = check_widget(args.exercise, submission, autorun=False)
        print(f"warming the build cache ({submission})…", flush=True)
        press_check(widget)
        raw_once(submission, args.port, args.path, "bench-raw:warm")
        checked, raw = [], []
        for round_number in range(args.rounds):  # alternate, so drift hits both alike
            checked.append(press_check(widget))
            raw.append(raw_once(submission, args.port, args.path, f"bench-raw:{round_number}"))
            print(f"round {round_number + 1}: Check {checked[-1]:.2f} s, raw {raw[-1]:.2f} s", flush=True)
        check_median, raw_median = statistics.median(checked), statistics.median(raw)
        print(f"median: Check {check_median:.2f} s (spread {spread(checked)}), raw docker CLI {raw_median:.2f} s "
              f"(spread {spread(raw)})")
        print(f"Check - raw: {check_median - raw_median:+.2f} s (target <= +0.30 s), "
              f"ratio {check_median / raw_median:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
