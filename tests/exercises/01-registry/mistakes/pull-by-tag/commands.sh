# Pulls by tag, not by digest (then runs what it pulled).
docker build -t shipit:1.0 .
docker tag shipit:1.0 localhost:5000/shipit:1.0
docker push localhost:5000/shipit:1.0
docker pull localhost:5000/shipit:1.0
docker run -d -p 8080:8000 localhost:5000/shipit:1.0
