#!/bin/sh
# Two rules about #include in src/ (docs/architecture.md draws them):
#
#  1. Library headers stay in their rooms: a file outside a library's room that includes it
#     fails.
#  2. Includes between project files follow the layers: a file may include files of its own
#     layer or of a layer below it, never above. Every file of src/ must be in the table, so
#     a new module has to be placed before it builds into a passing run.
src=${OBJCAST_SRCDIR:-$(dirname "$0")/..}/src
status=0
checks=0

fail() {
    echo "FAIL: $*"
    status=1
}

# --- 1. library rooms ---------------------------------------------------------------------
room() {
    lib=$1
    allowed=$2
    checks=$((checks + 1))
    for f in "$src"/*.c "$src"/*.h; do
        name=$(basename "$f")
        grep -q "#include <$lib" "$f" || continue
        case " $allowed " in
        *" $name "*) ;;
        *) fail "$name includes <$lib...> (allowed only in: $allowed)" ;;
        esac
    done
}
room yajl/ "json.c proto.c data.c"
room hiredis/ "redis_conn.c redis_cluster_map.c engine_redis.c engine_redis_house.c \
    engine_redis_presence.c engine_redis_script.c engine_redis_route.c"
room http_parser "http.c"
room zlib.h "pmd.c"
room event2/ "conn.c conn.h server.c server.h redis_conn.c redis_conn.h resolve.c resolve.h \
    engine_redis.c engine_redis_house.c engine_redis_route.c"

# --- 2. layers, from the bottom -------------------------------------------------------------
# A module is its .c and .h (and a generated .c beside them).
LAYERS="
0 base       buf busiest dict log metrics version utf8 base64 json okey util
1 codec      payload pmd conf conf_lex redis_url cluster_slots origin data auth presence proto session ws http outq
2 engine     engine engine_memory engine_redis engine_redis_int engine_redis_house engine_redis_presence engine_redis_script engine_redis_route chanmsg lua_scripts redis_conn resolve redis_cluster_map
3 registry   registry registry_int registry_requests registry_recovery
4 protocol   dispatch api status
5 transport  conn
6 process    server demo
7 main       objcastd
"

layer_of() {
    echo "$LAYERS" | while read -r n name modules; do
        [ -n "$n" ] || continue
        for m in $modules; do
            if [ "$m" = "$1" ]; then
                echo "$n $name"
                return
            fi
        done
    done
}

checks=$((checks + 1))
for f in "$src"/*.c "$src"/*.h; do
    name=$(basename "$f")
    module=${name%.*}
    mine=$(layer_of "$module")
    if [ -z "$mine" ]; then
        fail "$name: module $module has no layer in tests/check-includes.sh"
        continue
    fi
    for inc in $(sed -n 's/^#include "\([a-z0-9_]*\)\.h".*/\1/p' "$f"); do
        [ "$inc" = config ] && continue # autoconf's, below everything
        theirs=$(layer_of "$inc")
        if [ -z "$theirs" ]; then
            fail "$name includes $inc.h, which has no layer"
        elif [ "${theirs%% *}" -gt "${mine%% *}" ]; then
            fail "$name (${mine#* }) includes $inc.h (${theirs#* }): an include upward"
        fi
    done
done

if [ $status -eq 0 ]; then
    echo "$checks passed, 0 failed"
else
    echo "0 passed, 1 failed"
fi
exit $status
