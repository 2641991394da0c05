# Exercise 01: ship an image through a registry, one docker command per line, in the order you would type them.
# The grader reads these lines and carries them out in a sandbox, with a registry of its own at localhost:5000.
# No shell runs this file: no $VARIABLES, no pipes, no && (docs/commandline.md lists the commands and flags).

# Build the shipit service's image (ready: keep this line).
docker build -t shipit:1.0 .

# TODO 1: give shipit:1.0 a name at the registry: localhost:5000/shipit:1.0

# TODO 2: push it to the registry.

# TODO 3: show the digest the registry gave it (docker images --digests, or read the push's last line).

# TODO 4: pull it back BY DIGEST: localhost:5000/shipit@sha256:<the 64 hex digits your push printed>

# TODO 5: run what you pulled (the @sha256 name), detached, the host's port 8080 published to the app's port 8000.
