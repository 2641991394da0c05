# Exercise 02: the container lifecycle (reference solution).
docker build -t notes-app .
docker run -d --name notes -p 8080:8000 -e NOTES_OWNER=Ada -v /:/host notes-app
docker ps
docker logs notes
docker exec notes python add_note.py "buy milk"
docker stop notes
docker start notes
docker stop notes
docker rm notes
