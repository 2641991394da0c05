# Management-command spellings, the registry as 127.0.0.1:5000, the digest shown with inspect --format.
docker image build --tag 127.0.0.1:5000/shipit:1.0 .
docker image push 127.0.0.1:5000/shipit:1.0
docker image inspect --format '{{index .RepoDigests 0}}' 127.0.0.1:5000/shipit:1.0
docker image pull 127.0.0.1:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker container run --detach --name web --publish 127.0.0.1:8080:8000 127.0.0.1:5000/shipit@sha256:1844f86fdb69a6844642371911d1f798599672570539b5cd83d496c28278642d
docker ps
