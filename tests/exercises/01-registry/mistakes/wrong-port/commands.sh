# Publishes the host's 8080 to the container's 8080, where nothing listens (the app listens on 8000).
docker build -t shipit:1.0 .
docker tag shipit:1.0 localhost:5000/shipit:1.0
docker push localhost:5000/shipit:1.0
docker pull localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker run -d -p 8080:8080 localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
