# Exercise 01, shipped somewhere else: a remote registry, a login, an engine setting.
docker build -t shipit:1.0 .
docker push ghcr.io/someone/shipit:1.0
docker login -u someone -p hunter2 ghcr.io
docker push --insecure localhost:5000/shipit:1.0
docker pull localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker run -d -p 8080:8000 localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
