# Stand-ins for the compose file's redis:7 and haproxy:2.6, built from Debian 12's
# packages (redis-server 7.0, haproxy 2.6) by scripts/docker-test where no image registry
# is reachable. They take what the compose files give the real images: the same command
# words, conf paths, data directory and unprivileged users.
#   podman build --format docker -f docker/stand-ins.Dockerfile --target redis -t localhost/redis:7 docker
FROM debian:bookworm AS tools
# policy-rc.d: the packages' scripts must not try to start the daemons in the build
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server redis-tools haproxy \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
LABEL org.objcast.stand-in="scripts/docker-test"

# redis:7 runs redis-server as user redis in /data, the volume's mount point; a new volume
# takes the ownership of the image's directory.
FROM tools AS redis
RUN mkdir -p /data /usr/local/etc/redis && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]

# haproxy:2.6 runs as user haproxy in master-worker mode, in the foreground, with its
# configuration at this path; SIGUSR1 is its soft stop.
FROM tools AS haproxy
RUN mkdir -p /usr/local/etc/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
