#!/bin/sh
# Runs the browser tests (playwright-core driving Debian's /usr/bin/chromium, headless)
# against a real objcastd with engine redis, like tests/integration/run.sh: OBJCASTD is the
# daemon to test (default ./src/objcastd when it exists, else the source tree's), CHROMIUM
# the browser (default /usr/bin/chromium), REDIS_SERVER the redis-server binary.
# Screenshots land in tests/e2e/out/ (git-ignored).
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${OBJCAST_SRCDIR:-$(cd "$here/../.." && pwd)}

if [ -z "${OBJCASTD:-}" ] && [ -x "$PWD/src/objcastd" ]; then
    OBJCASTD="$PWD/src/objcastd"
fi
if [ -n "${OBJCASTD:-}" ]; then
    case $OBJCASTD in
    /*) ;;
    *) OBJCASTD="$PWD/$OBJCASTD" ;;
    esac
    export OBJCASTD
fi
export OBJCAST_SRCDIR="$srcdir"

cd "$srcdir" || exit 1

command -v node >/dev/null 2>&1 || { echo "run.sh: node not found" >&2; exit 1; }
if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/ws/package.json ]; then
    echo "run.sh: installing the test dependencies (npm ci)" >&2
    npm ci --no-audit --no-fund >&2 || exit 1
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "run.sh: ${CHROMIUM:-/usr/bin/chromium} not found (apt-get install -y chromium)" >&2
    exit 1
fi
command -v "${REDIS_SERVER:-redis-server}" >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || {
    echo "run.sh: redis-server not found (apt-get install -y redis-server)" >&2
    exit 1
}

mkdir -p tests/e2e/out
exec node --test --test-concurrency=1 tests/e2e/*.test.mjs
