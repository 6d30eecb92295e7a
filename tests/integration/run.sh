#!/bin/sh
# Runs the integration tests with Node's test runner. `make check` calls it from the build
# directory with OBJCASTD (the daemon to test) and OBJCAST_SRCDIR exported; run by hand it
# works from anywhere: OBJCASTD defaults to ./src/objcastd when that exists, else to the
# source tree's src/objcastd.
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
if [ ! -f node_modules/ws/package.json ]; then
    echo "run.sh: installing the test dependencies (npm ci)" >&2
    npm ci --no-audit --no-fund >&2 || exit 1
fi

exec node --test --test-concurrency=1 tests/integration/*.test.mjs
