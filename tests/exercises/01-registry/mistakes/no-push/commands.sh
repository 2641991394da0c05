# Forgets the push: nothing is in the registry, so the pull by digest finds nothing.
docker build -t shipit:1.0 .
docker tag shipit:1.0 localhost:5000/shipit:1.0
docker images --digests
docker pull localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker run -d -p 8080:8000 localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
