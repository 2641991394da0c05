#!/usr/bin/env bash
# PrairieLearn external grader entry point (serverFilesCourse/dockyard/run.sh <exercise-id>).
#
# PrairieLearn's grading container has no Docker engine, so the submission (/grade/student) goes to
# Dockyard's job queue, where a `dockyard worker` on a Docker host of yours grades it:
#   dockyard grade <id> /grade/student --queue $QUEUE_URL --wait $BUDGET_S --deadline $BUDGET_S
#     --format prairielearn=/grade/results/results.json
# Anything short of a grading (no files, too big, the queue unreachable, no worker in the budget) is
# `gradable: false` with format_errors: no points lost, no attempt used. The question's timeout is 600 s at
# most; BUDGET_S (540 by default) plus this script's margin stays under it, so a result is always written.
set -uo pipefail
EXERCISE="$1"
GRADE="${GRADE_ROOT:-/grade}"  # PrairieLearn's root (another one only for a local trial)
# shellcheck source=/dev/null
source "$GRADE/serverFilesCourse/dockyard/config.env"  # QUEUE_URL, BUDGET_S
DOCKYARD="${DOCKYARD:-/opt/dockyard/bin/dockyard}"  # installed in the grader image (grader-image/Dockerfile)
BUDGET_S="${BUDGET_S:-540}"
export DOCKYARD_RESIDENT=0  # one grading per container: no resident grader to warm, none to outlive it
mkdir -p "$GRADE/results"  # "not automatically created"
RESULTS="$GRADE/results/results.json"
rm -f "$RESULTS"

timeout --kill-after=5 "$((${BUDGET_S%.*} + 20))" "$DOCKYARD" grade "$EXERCISE" "$GRADE/student" \
  --queue "$QUEUE_URL" --wait "$BUDGET_S" --deadline "$BUDGET_S" --format "prairielearn=$RESULTS" \
  > "$GRADE/results/dockyard.log" 2>&1
status=$?

if ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$RESULTS" 2>/dev/null; then
  python3 - "$RESULTS" "$status" <<'PY'
import json, sys
reason = "the grader stopped before it had a result (exit " + sys.argv[2] + "); submit again later"
json.dump({"gradable": False, "format_errors": [reason],
           "message": "Your submission could not be graded, so no attempt was used: " + reason}, open(sys.argv[1], "w"))
PY
fi
exit 0
