# Exercise 01: ship an image through a registry (reference solution).
docker build -t shipit:1.0 .
docker tag shipit:1.0 localhost:5000/shipit:1.0
docker push localhost:5000/shipit:1.0
docker images --digests localhost:5000/shipit
# the digest this machine's push printed (the grading's own push makes another, which the grader pulls instead)
docker pull localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker run -d --name shipit -p 8080:8000 localhost:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker ps
