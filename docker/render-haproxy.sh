#!/bin/sh
# Writes docker/haproxy.cfg: scripts/cluster-haproxy.cfg (the topology scripts/cluster
# runs natively) with the compose containers as servers. tests/check-docker.sh fails when
# the committed file differs from what this prints.
root=$(cd "$(dirname "$0")/.." && pwd)
sed -e 's|@BIND@|0.0.0.0:8080|' \
    -e 's|@SERVER_1@|objcast-1:8080|' \
    -e 's|@SERVER_2@|objcast-2:8080|' \
    -e 's|@SERVER_3@|objcast-3:8080|' \
    "$root/scripts/cluster-haproxy.cfg"
