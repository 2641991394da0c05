#!/usr/bin/env bash
# Gradescope autograder set-up: runs once, when Gradescope builds the autograder image (Ubuntu, as root).
#
# Gradescope's container has no Docker engine, so nothing is built or run here: run_autograder sends each
# submission to Dockyard's job queue, where a `dockyard worker` on a Docker host of yours grades it. This
# installs Dockyard itself (the queue's client) from the course repository at the pinned ref in config.env,
# so the sender and the workers share one rubric version (a worker refuses a job of another version).
set -euo pipefail
AG="${AUTOGRADER_ROOT:-/autograder}"
# shellcheck source=/dev/null
source "$AG/source/config.env"  # COURSE_REPOSITORY, COURSE_REF, EXERCISE, QUEUE_URL, ...
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends python3 python3-venv git ca-certificates
git clone --quiet "$COURSE_REPOSITORY" "$AG/course"
git -C "$AG/course" checkout --quiet --detach "$COURSE_REF"
python3 -m venv "$AG/dockyard-venv"
"$AG/dockyard-venv/bin/pip" install --quiet -r "$AG/course/requirements.lock"
"$AG/dockyard-venv/bin/pip" install --quiet --no-deps "$AG/course"
