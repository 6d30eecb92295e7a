#!/bin/sh
# Runs the integration tests with Node's test runner: the files named on the command line,
# else every *.test.mjs under tests/integration/ (tests/README.md says which folder holds
# what). `make check` calls it from the build directory with OBJCASTD (the daemon to test) and
# OBJCAST_SRCDIR exported; run by hand it works from anywhere: OBJCASTD defaults to
# ./src/objcastd when that exists, else to the source tree's src/objcastd.
# OBJCAST_TEST_DEFLATE=alternate (default), all or none says which ws clients offer
# permessage-deflate (lib/server.mjs, connect()).
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

# Files named on the command line are relative to where run.sh was started.
files=""
for f in "$@"; do
    case $f in
    /*) files="$files $f" ;;
    *) files="$files $PWD/$f" ;;
    esac
done

cd "$srcdir" || exit 1

command -v node >/dev/null 2>&1 || { echo "run.sh: node not found" >&2; exit 1; }
if [ ! -f node_modules/ws/package.json ]; then
    echo "run.sh: installing the test dependencies (npm ci)" >&2
    npm ci --no-audit --no-fund >&2 || exit 1
fi

# One file at a time: the tests measure the server's memory and time, and would disturb
# each other. Node 20's --test takes no globs, hence find.
[ -n "$files" ] || files=$(find tests/integration -name '*.test.mjs' | LC_ALL=C sort)
# shellcheck disable=SC2086 # word splitting wanted: test file paths hold no spaces
exec node --test --test-concurrency=1 $files
