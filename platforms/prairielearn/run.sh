#!/usr/bin/env bash
# PrairieLearn external grader entry point (serverFilesCourse/dockyard/run.sh <exercise-id>).
#
# PrairieLearn's grading container has no Docker engine either, so, as on Gradescope, the submission
# (/grade/student) goes over SSH to a Docker host running Dockyard, whose forced command
# (platforms/host/dockyard-ssh-grade) runs
#   dockyard grade <id> <folder> --prairielearn <folder>/results.json      (budget: 540 s by default)
# and prints it. Anything short of a results file is `gradable: false`: no points lost, no attempt used.
# The question's timeout is 600 s at most; BUDGET_S stays under it so this script always writes a result.
set -uo pipefail
EXERCISE="$1"
# shellcheck source=/dev/null
GRADE="${GRADE_ROOT:-/grade}"  # PrairieLearn's root (another one only for a local trial)
source "$GRADE/serverFilesCourse/dockyard/config.env"  # DOCKYARD_HOST=grader@docker-host
BUDGET_S="${BUDGET_S:-570}"
mkdir -p "$GRADE/results"  # "not automatically created"
RESULTS="$GRADE/results/results.json"

ungradable() {
  python3 - "$1" > "$RESULTS" <<'PY'
import json, sys
print(json.dumps({"gradable": False, "format_errors": [sys.argv[1]],
                  "message": "Your submission could not be graded, so no attempt was used: " + sys.argv[1]}))
PY
}

if [[ -z "$(ls -A "$GRADE/student" 2>/dev/null)" ]]; then
  ungradable "no files were submitted"
  exit 0
fi
if tar -C "$GRADE" -czf - student \
    | timeout "$BUDGET_S" ssh -o BatchMode=yes -o ConnectTimeout=20 \
        -i "$GRADE"/serverFilesCourse/dockyard/id_ed25519 \
        -o UserKnownHostsFile="$GRADE"/serverFilesCourse/dockyard/known_hosts \
        "$DOCKYARD_HOST" "prairielearn $EXERCISE" > "$RESULTS.tmp" \
    && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$RESULTS.tmp" 2>/dev/null; then
  mv "$RESULTS.tmp" "$RESULTS"
else
  rm -f "$RESULTS.tmp"
  ungradable "the grading host did not answer within ${BUDGET_S} s; submit again later"
fi
