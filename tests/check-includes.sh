#!/bin/sh
# Library headers stay in their rooms (STYLE.md): a file outside a library's room that
# includes it fails this test.
src=${OBJCAST_SRCDIR:-$(dirname "$0")/..}/src
status=0
check() {
    lib=$1
    allowed=$2
    for f in "$src"/*.c "$src"/*.h; do
        name=$(basename "$f")
        grep -q "#include <$lib" "$f" || continue
        case " $allowed " in
        *" $name "*) ;;
        *)
            echo "FAIL: $name includes <$lib...> (allowed only in: $allowed)"
            status=1
            ;;
        esac
    done
}
check yajl/ "json.c proto.c data.c"
check hiredis/ "redis_conn.c engine_redis.c engine_redis_house.c engine_redis_presence.c \
    engine_redis_script.c"
check http_parser "http.c"
check event2/ "conn.c conn.h server.c server.h redis_conn.c redis_conn.h engine_redis.c \
    engine_redis_house.c"
[ $status -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $status
