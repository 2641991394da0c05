# Long flags and the management commands (`docker container …`, `docker image …`).
docker image build --tag notes-app:latest .
docker container run --detach --name=notes --publish=127.0.0.1:8080:8000/tcp --env NOTES_OWNER=Grace --volume notes-data:/data notes-app:latest
docker container ls
docker container logs --tail 20 notes
docker container exec -it notes python add_note.py "buy milk"
docker restart notes
docker container rm --force notes
