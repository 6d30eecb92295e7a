#!/bin/sh
# The docker/ files, checked where no Docker engine runs: the compose haproxy.cfg is the
# scripts/cluster template rendered (same topology), haproxy accepts it, objcastd accepts
# the mounted conf, and the compose file names what the Dockerfile builds.
src=${OBJCAST_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
objcastd=${OBJCASTD:-$src/src/objcastd}
passed=0 failed=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

if "$src/docker/render-haproxy.sh" | cmp -s - "$src/docker/haproxy.cfg"; then ok; else
    fail "docker/haproxy.cfg differs from docker/render-haproxy.sh's output"; fi
if command -v haproxy >/dev/null && haproxy -c -q -f "$src/docker/haproxy.cfg"; then ok; else
    fail "haproxy -c rejects docker/haproxy.cfg (or haproxy is missing)"; fi
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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
