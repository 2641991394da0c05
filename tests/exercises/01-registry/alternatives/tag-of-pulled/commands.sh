# Pulls by digest, gives what it pulled a local name, and runs that name (the same image).
docker build -t shipit:1.0 .
docker tag shipit:1.0 localhost:5000/shipit:1.0
docker push --quiet localhost:5000/shipit:1.0
docker pull -q localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker tag localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d shipit:pulled
docker images
docker run -dp 8080:8000 shipit:pulled
