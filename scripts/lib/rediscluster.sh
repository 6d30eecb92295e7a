# A Redis Cluster of six redis-server on 127.0.0.1 (3 masters, 3 replicas) for the scripts
# (scripts/cluster --redis-cluster): conf/redis.conf plus the cluster settings, one data
# directory per node, joined by redis-cli --cluster create. Needs common.sh (ROOT, die)
# and redis-server and redis-cli (redis-tools) installed.
#
#   rediscluster_start STATE PORT x6 [-- REDIS-SERVER-OPTIONS...]   start the nodes
#   rediscluster_join STATE           wait, create the cluster if new, wait until whole
#   rediscluster_url                  redis://127.0.0.1:P1,... of the current masters
#   rediscluster_stop                 SIGTERM the nodes and wait for them
#   rediscluster_check_conf           does redis-server take conf/redis.conf in cluster mode
# shellcheck shell=bash

# The nodes of the last rediscluster_start (index 0..5).
RC_PORTS=()
RC_PIDS=()
# Milliseconds a node may be silent before the others fail it over. 5 s instead of Redis's
# 15 s: on one machine a node that stops answering is dead, not on a slow network.
RC_NODE_TIMEOUT=${RC_NODE_TIMEOUT:-5000}
# RC_PREFIX (an array, unset by default): words put before redis-server, e.g.
# RC_PREFIX=(taskset -c 0).

# The cluster settings every node gets after conf/redis.conf.
rc_cluster_args() {
    printf '%s\0' --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-node-timeout "$RC_NODE_TIMEOUT" --repl-diskless-sync-delay 0
}
# (conf/redis.conf's settings all hold for a cluster node: AOF, noeviction, the pub/sub
# output limits. repl-diskless-sync-delay 0: a replica syncs at once instead of waiting 5 s
# for others to sync with, as its master will never have more than one.)

# Value of field $3 in the output of `redis-cli -p $1 $2` (INFO or CLUSTER INFO).
rc_field() {
    local port=$1 cmd=$2 field=$3
    # shellcheck disable=SC2086 # cmd is two words
    redis-cli -p "$port" $cmd 2>/dev/null | tr -d '\r' | sed -n "s/^$field://p"
}

# Dies unless the six ports and their cluster bus ports (port + 10000) are valid.
rc_check_ports() {
    local p
    [ $# -eq 6 ] || die "a Redis Cluster needs 6 ports, not $#"
    for p in "$@"; do
        if ! [[ $p =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ $((p + 10000)) -gt 65535 ]; then
            die "bad Redis Cluster port '$p' (its bus port, $p + 10000, must be a port too)"
        fi
    done
    [ "$(printf '%s\n' "$@" | sort -u | wc -l)" -eq 6 ] || die "the 6 Redis Cluster ports must differ"
}

# rediscluster_start STATE PORT1 .. PORT6 [-- REDIS-SERVER-OPTIONS...]
# Starts node N (1..6) on 127.0.0.1:PORT_N with its data (AOF, nodes.conf) in STATE/redis-N
# and its output in STATE/redis-N.log; sets RC_PORTS and RC_PIDS. Does not wait. A state
# made with other ports is refused: nodes.conf names every node by address.
rediscluster_start() {
    local state=$1 i
    shift
    RC_PORTS=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        RC_PORTS+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    rc_check_ports "${RC_PORTS[@]}"
    mkdir -p "$state"
    local record=$state/redis-cluster.ports
    if [ -s "$record" ] && [ "$(cat "$record")" != "${RC_PORTS[*]}" ]; then
        die "the Redis Cluster in $state was made on ports $(cat "$record"), not ${RC_PORTS[*]}" \
            "(use those, or remove $record and $state/redis-[1-6] to start an empty one)"
    fi
    echo "${RC_PORTS[*]}" >"$record"
    local cargs
    mapfile -d '' cargs < <(rc_cluster_args)
    RC_PIDS=()
    for i in 1 2 3 4 5 6; do
        mkdir -p "$state/redis-$i"
        ${RC_PREFIX[@]+"${RC_PREFIX[@]}"} redis-server "$ROOT/conf/redis.conf" --port "${RC_PORTS[$((i - 1))]}" \
            --bind 127.0.0.1 --dir "$state/redis-$i" --daemonize no --logfile "" "${cargs[@]}" "$@" \
            >"$state/redis-$i.log" 2>&1 &
        RC_PIDS+=($!)
    done
}

# 0 when every node is up and the cluster is whole: 6 known nodes, 3 masters serving all
# slots, cluster_state ok everywhere, every node seeing 3 replicas and nobody failed, every
# replica's link to its master up.
rc_whole() {
    local port
    for port in "${RC_PORTS[@]}"; do
        local info nodes
        info=$(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r') || return 1
        grep -qx 'cluster_state:ok' <<<"$info" || return 1
        grep -qx 'cluster_known_nodes:6' <<<"$info" || return 1
        grep -qx 'cluster_size:3' <<<"$info" || return 1
        # a replica is announced by gossip: for a moment the others take it for an empty master
        nodes=$(redis-cli -p "$port" cluster nodes 2>/dev/null) || return 1
        [ "$(awk '$3 ~ /slave/ && $3 !~ /fail/ && $8 == "connected"' <<<"$nodes" | wc -l)" -eq 3 ] || return 1
        if [ "$(rc_field "$port" 'info replication' role)" != master ] &&
            [ "$(rc_field "$port" 'info replication' master_link_status)" != up ]; then
            return 1
        fi
    done
}

# Returns 1 (and says why on stderr) when a node of RC_PIDS has exited.
rc_all_alive() {
    local i
    for i in "${!RC_PIDS[@]}"; do
        if ! kill -0 "${RC_PIDS[$i]}" 2>/dev/null; then
            echo "redis-$((i + 1)) (port ${RC_PORTS[$i]}) exited" >&2
            return 1
        fi
    done
}

# rediscluster_join STATE [SECONDS]
# Waits until the nodes answer, joins them with redis-cli --cluster create when they are
# new (output in STATE/redis-cluster-create.log), and waits until the cluster is whole. A
# restart on an existing state finds its cluster in the nodes' nodes.conf files. Returns 1,
# with the reason on stderr, when a node exits, the nodes belong to some other cluster, or
# it takes longer than SECONDS (default 60).
rediscluster_join() {
    local state=$1 deadline=$((SECONDS + ${2:-60})) port
    for port in "${RC_PORTS[@]}"; do
        until redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; do
            rc_all_alive || return 1
            [ $SECONDS -lt $deadline ] || { echo "redis on port $port does not answer" >&2; return 1; }
            sleep 0.05
        done
    done
    local fresh=0 known=0
    for port in "${RC_PORTS[@]}"; do
        case $(rc_field "$port" 'cluster info' cluster_known_nodes) in
        1) [ "$(rc_field "$port" 'cluster info' cluster_slots_assigned)" = 0 ] && fresh=$((fresh + 1)) ;;
        6) known=$((known + 1)) ;;
        esac
    done
    if [ $fresh -eq 6 ]; then
        local addrs=()
        for port in "${RC_PORTS[@]}"; do addrs+=("127.0.0.1:$port"); done
        if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
            >"$state/redis-cluster-create.log" 2>&1; then
            echo "redis-cli --cluster create failed (log: $state/redis-cluster-create.log):" >&2
            tail -n 20 "$state/redis-cluster-create.log" >&2
            return 1
        fi
    elif [ $known -ne 6 ]; then
        echo "the nodes on ports ${RC_PORTS[*]} are not one cluster of 6 nor 6 new nodes" \
            "(remove $state/redis-[1-6] to start an empty cluster)" >&2
        return 1
    fi
    until rc_whole; do
        rc_all_alive || return 1
        if [ $SECONDS -ge $deadline ]; then
            echo "the Redis Cluster did not become whole; redis-cli --cluster check says:" >&2
            redis-cli --cluster check "127.0.0.1:${RC_PORTS[0]}" >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

# Prints the redis_url of the current masters: redis://127.0.0.1:P1,127.0.0.1:P2,... (any
# node would do as a seed; the masters are the ones a client talks to anyway).
rediscluster_url() {
    local masters
    masters=$(redis-cli -p "${RC_PORTS[0]}" cluster nodes 2>/dev/null |
        awk '$3 ~ /master/ && $3 !~ /fail/ && $9 != "" { split($2, a, "@"); print a[1] }' | sort -t: -k2n | paste -sd, -)
    [ -n "$masters" ] || return 1
    echo "redis://$masters"
}

# SIGTERMs the nodes (each writes its AOF and nodes.conf) and waits for them, at most 15 s.
rediscluster_stop() {
    [ ${#RC_PIDS[@]} -gt 0 ] || return 0
    kill -TERM "${RC_PIDS[@]}" 2>/dev/null || true
    local deadline=$((SECONDS + 15)) pid
    for pid in "${RC_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    RC_PIDS=()
}

# Starts one redis-server with conf/redis.conf and the cluster settings (unix socket only;
# the cluster bus needs a TCP port, a random one) to see it accepts them and runs as a
# cluster node, and shuts it down. Dies if not. Also needs redis-cli with --cluster.
rediscluster_check_conf() {
    local tmp cargs ok=0 help
    # (redis-cli --cluster help exits 1 even where it works)
    help=$(redis-cli --cluster help 2>&1 || true)
    [[ $help == *reshard* ]] || die "redis-cli has no --cluster (redis-tools too old?)"
    tmp=$(mktemp -d)
    mapfile -d '' cargs < <(rc_cluster_args)
    for _ in 1 2 3 4 5; do
        local bus=$((20000 + RANDOM % 30000))
        redis-server "$ROOT/conf/redis.conf" --port 0 --unixsocket "$tmp/redis.sock" --dir "$tmp" \
            --appendonly no "${cargs[@]}" --cluster-port "$bus" >"$tmp/log" 2>&1 &
        local pid=$!
        for _ in $(seq 100); do
            if [ "$(redis-cli -s "$tmp/redis.sock" info cluster 2>/dev/null | tr -d '\r' |
                sed -n 's/^cluster_enabled://p')" = 1 ]; then
                ok=1
                break
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        redis-cli -s "$tmp/redis.sock" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        [ $ok -eq 1 ] && break
        grep -q 'Address already in use' "$tmp/log" || break
        rm -f "$tmp/nodes.conf"
    done
    if [ $ok -ne 1 ]; then
        cat "$tmp/log" >&2
        rm -rf "$tmp"
        die "redis-server rejects conf/redis.conf with the cluster settings"
    fi
    rm -rf "$tmp"
}
