#!/bin/sh
# The docker/ files, checked where no Docker engine runs: the compose haproxy.cfg is the
# scripts/cluster template rendered (same topology), haproxy accepts it, objcastd accepts
# the mounted confs, and the compose files name what the Dockerfile builds. The Redis
# Cluster variant (compose.cluster.yml) runs its nodes with the cluster settings of
# scripts/lib/rediscluster.sh (scripts/cluster --redis-cluster) and joins all six of them.
src=${OBJCAST_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
objcastd=${OBJCASTD:-$src/src/objcastd}
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

if "$src/docker/render-haproxy.sh" | cmp -s - "$src/docker/haproxy.cfg"; then ok; else
    fail "docker/haproxy.cfg differs from docker/render-haproxy.sh's output"; fi
if command -v haproxy >/dev/null && haproxy -c -q -f "$src/docker/haproxy.cfg"; then ok; else
    fail "haproxy -c rejects docker/haproxy.cfg (or haproxy is missing)"; fi
# haproxy looks the instances' names up while it runs (a restarted container's new address)
if grep -q '^resolvers system' "$src/docker/haproxy.cfg" &&
    grep -q '^    parse-resolv-conf' "$src/docker/haproxy.cfg" &&
    grep -q '^    default-server .* resolvers system' "$src/docker/haproxy.cfg"; then ok; else
    fail "docker/haproxy.cfg must resolve the instances at run time (a resolvers section used by the servers)"; fi
if "$objcastd" --check-config -c "$src/docker/objcast.conf" >/dev/null; then ok; else
    fail "objcastd --check-config rejects docker/objcast.conf"; fi
for svc in redis objcast-1 objcast-2 objcast-3 haproxy; do
    if grep -q "^  $svc:" "$src/docker/compose.yml"; then ok; else
        fail "compose.yml has no service $svc"; fi
done
if grep -q "docker/Dockerfile" "$src/docker/compose.yml" &&
    grep -q "HEALTHCHECK" "$src/docker/Dockerfile" &&
    grep -q "^USER objcast" "$src/docker/Dockerfile"; then ok; else
    fail "Dockerfile: built by compose, non-root, with a HEALTHCHECK"; fi
# scripts/docker-test runs compose.yml with compose.test.yml over it on a host port of its
# choosing, and the stand-ins of the images it cannot pull take compose's names
if grep -qF -- '- "${OBJCAST_HTTP_PORT:-8080}:8080"' "$src/docker/compose.yml"; then ok; else
    fail "compose.yml: haproxy's host port must be \${OBJCAST_HTTP_PORT:-8080}"; fi
for svc in objcast-1 objcast-2 objcast-3; do
    if grep -q "^  $svc:" "$src/docker/compose.test.yml"; then ok; else
        fail "compose.test.yml does not override $svc"; fi
done
if grep -q '^    image: redis:7$' "$src/docker/compose.yml" && grep -q '^    image: haproxy:2.6$' "$src/docker/compose.yml" &&
    grep -q '^FROM tools AS redis$' "$src/docker/stand-ins.Dockerfile" &&
    grep -q '^FROM tools AS haproxy$' "$src/docker/stand-ins.Dockerfile" &&
    grep -q 'stand_in redis:7 redis$' "$src/scripts/docker-test" &&
    grep -q 'stand_in haproxy:2.6 haproxy$' "$src/scripts/docker-test"; then ok; else
    fail "the stand-ins of scripts/docker-test must be the images compose.yml names (redis:7, haproxy:2.6)"; fi

# compose.cluster.yml
cl=$src/docker/compose.cluster.yml
for svc in redis-1 redis-2 redis-3 redis-4 redis-5 redis-6 redis-cluster-init objcast-1 objcast-2 \
    objcast-3 haproxy; do
    if grep -q "^  $svc:" "$cl"; then ok; else fail "compose.cluster.yml has no service $svc"; fi
done
for n in 1 2 3 4 5 6; do
    if grep -q "ipv4_address: \"\${OBJCAST_REDIS_NET:-172.29.71}.1$n\"" "$cl" &&
        grep -q "\"redis-$n:/data\"" "$cl"; then ok; else
        fail "compose.cluster.yml: redis-$n needs its fixed address and its own volume"; fi
done
# every setting scripts/cluster --redis-cluster gives its nodes, as a "--key", "value" pair
settings=$(env -u RC_NODE_TIMEOUT bash -c '. "$1/scripts/lib/common.sh" && . "$1/scripts/lib/rediscluster.sh" &&
    rc_cluster_args | tr "\0" "\n"' sh "$src")
[ -n "$settings" ] || fail "scripts/lib/rediscluster.sh printed no cluster settings"
flat=$(tr -d '\n' <"$cl" | tr -s ' ')
missing=$(echo "$settings" | while read -r key && read -r value; do
    echo "$flat" | grep -qF "\"$key\", \"$value\"" || printf '%s %s; ' "$key" "$value"
done)
if [ -n "$settings" ] && [ -z "$missing" ]; then ok; else
    fail "compose.cluster.yml's Redis nodes lack settings of scripts/lib/rediscluster.sh: $missing"; fi
# shellcheck disable=SC2016 # the compose file's own $$ and ${...}, literally
if grep -q 'redis-cli --cluster create $$NODES --cluster-replicas 1 --cluster-yes' "$cl" &&
    [ "$(grep -o '${OBJCAST_REDIS_NET:-172.29.71}\.1[1-6]:6379' "$cl" | sort -u | wc -l)" -eq 6 ]; then ok; else
    fail "compose.cluster.yml: redis-cluster-init must create the cluster of all six nodes"; fi
if grep -q "docker/Dockerfile" "$cl" && grep -q "condition: service_completed_successfully" "$cl" &&
    grep -q "\./objcast-cluster.conf:/etc/objcast/objcast.conf:ro" "$cl" &&
    grep -q "\./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" "$cl"; then ok; else
    fail "compose.cluster.yml: objcastd built from the Dockerfile with objcast-cluster.conf after the init, haproxy with haproxy.cfg"; fi
if grep -qx 'redis_cluster yes' "$src/docker/objcast-cluster.conf" &&
    grep -qx 'redis_url redis://redis-1:6379,redis-2:6379,redis-3:6379' "$src/docker/objcast-cluster.conf"; then ok; else
    fail "docker/objcast-cluster.conf: redis_cluster yes with the first three nodes as seeds"; fi
# (an objcastd from before redis_cluster existed cannot judge that conf; once it knows the
# key, the conf must pass)
if "$objcastd" --help 2>/dev/null | grep -q '^  redis_cluster '; then
    if "$objcastd" --check-config -c "$src/docker/objcast-cluster.conf" >/dev/null; then ok; else
        fail "objcastd --check-config rejects docker/objcast-cluster.conf"; fi
else
    echo "note: this objcastd has no redis_cluster key; docker/objcast-cluster.conf not checked by it"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
