#!/bin/sh
# The volume made first, the flags in another order, the owner from a file, continuation lines.
docker volume create notes-data
docker build -t notes-app .

docker run --name notes \
    -v notes-data:/data \
    --env-file notes.env \
    -p 8080:8000 \
    -d notes-app   # detached, at the end this time

docker ps -a
docker logs -f notes
docker exec notes sh -c 'python add_note.py "buy milk" && python add_note.py "call mum"'
docker stop -t 3 notes
docker start notes
docker rm -f notes
