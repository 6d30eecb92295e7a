# Shared by the scripts: where things are, and installing what is missing.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages the build and the tests need.
BUILD_PACKAGES=(build-essential autoconf automake libtool pkg-config libevent-dev
    libhiredis-dev libyajl-dev check libssl-dev libhttp-parser-dev zlib1g-dev redis-server haproxy)
# What the browser tests need besides: Debian's Chromium, driven by playwright-core.
E2E_PACKAGES=(chromium)

apt_updated=0
# Installs every named Debian package that is not installed yet.
install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    if [ $apt_updated -eq 0 ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# Node.js and the npm packages of package-lock.json (ws, playwright-core).
install_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        install_packages nodejs npm
    fi
    if [ ! -d "$ROOT/node_modules/ws" ] ||
        [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
        say "npm ci"
        (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# Configures (once) and builds objcast in build dir $1 with configure flags $2...
build_in() {
    local dir=$1
    shift
    if [ -f "$ROOT/config.status" ]; then
        say "the source tree is configured in place; building there"
        dir=$ROOT
    fi
    if [ ! -f "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ] ||
        [ "$ROOT/Makefile.am" -nt "$ROOT/Makefile.in" ]; then
        say "autoreconf"
        (cd "$ROOT" && autoreconf -fi >/dev/null)
    fi
    mkdir -p "$dir"
    local want="$*"
    if [ ! -f "$dir/config.status" ] || [ "$(cat "$dir/.configure-flags" 2>/dev/null)" != "$want" ]; then
        say "configure $want"
        (cd "$dir" && "$ROOT/configure" "$@" >/dev/null)
        echo "$want" >"$dir/.configure-flags"
    fi
    say "make ($dir)"
    make -C "$dir" -j"$(nproc)" >/dev/null
    BUILD_DIR=$dir
}

# --- servers on this machine -----------------------------------------------------------

# 0 when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1"); }

# The status code of GET $2 on 127.0.0.1:$1, or nothing.
http_status() {
    local line
    line=$(
        exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
        timeout 2 head -n 1 <&3
    ) 2>/dev/null || true
    [[ $line =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] && echo "${BASH_REMATCH[1]}"
}

# Waits up to $2 seconds for the command "$3..." to succeed while pid $1 lives.
wait_until() {
    local pid=$1 secs=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || return 1
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
}
