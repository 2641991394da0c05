# Exercise 02: the container lifecycle, one docker command per line, in the order you would type them.
# The grader reads these lines and carries them out in a sandbox. No shell runs this file: no $VARIABLES,
# no pipes, no && (docs/commandline.md lists the commands and flags you can use).

# Build the notes service's image (ready: keep this line).
docker build -t notes-app .

# TODO 1: run `notes-app` in the background (detached) as a container named `notes`, with
#   - the host's port 8080 published to the app's port 8000,
#   - the environment variable NOTES_OWNER set to your name,
#   - a named volume `notes-data` mounted at /data.

# TODO 2: list the running containers.

# TODO 3: read the container's logs.

# TODO 4: add a note with a command run inside the container: python add_note.py "buy milk"

# TODO 5: stop the container, then start it again (its notes must still be there).

# TODO 6: remove the container (the volume, and the notes in it, stay).
