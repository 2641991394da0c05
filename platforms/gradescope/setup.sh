#!/usr/bin/env bash
# Gradescope autograder set-up (runs once, when Gradescope builds the autograder image).
#
# Gradescope runs the autograder in an unprivileged container with no Docker engine, so Dockyard cannot
# build or run the learner's image *here*. This sketch ships each submission over SSH to a Docker host
# you run (a lab machine or a VM with Dockyard installed, `make setup` done), grades it there with
# Dockyard's own engine, and copies results.json back. Everything on this side is plain shell + ssh.
#
# Put next to this file in the autograder zip:
#   run_autograder   (the entry point)
#   config.env       DOCKYARD_HOST=grader@docker-host.example.edu  EXERCISE=01-first-image
#   id_ed25519       a key that may only run the forced command on the host (see README.md)
#   known_hosts      the host's key, so the connection cannot be redirected
set -euo pipefail
apt-get update -q
apt-get install -y -q --no-install-recommends openssh-client ca-certificates
install -m 0700 -d /root/.ssh
install -m 0600 /autograder/source/id_ed25519 /root/.ssh/id_ed25519
install -m 0644 /autograder/source/known_hosts /root/.ssh/known_hosts
