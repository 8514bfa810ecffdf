# shellcheck shell=bash
# Helpers shared by bench/run.sh and bench/compare.sh (sourced, not run).
# Expects $bin (the coremq binary).
# shellcheck disable=SC2154  # $bin is set by the sourcing script

# A free loopback port p with p - 2 and p + 1 free too (a broker's VIP and HA ports), at
# least 3 away from each port given as an argument (ports chosen but not yet bound).
free_port() {
    local p a near low
    # Below the ephemeral range: a port that no one listens on can still be the local end of
    # some outgoing connection, and then binding it fails.
    low="$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
    (( low > 12000 )) || low=32768
    while :; do
        p=$(( (RANDOM % (low - 11000)) + 10000 ))
        near=0
        for a in "$@"; do
            if (( p - a <= 2 && a - p <= 2 )); then near=1; fi
        done
        if (( near == 0 )) &&
           ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
           ! (exec 3<>"/dev/tcp/127.0.0.1/$((p - 2))") 2>/dev/null &&
           ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# Waits (<= 20 s) until something listens on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# CPU seconds (user + system) of a process so far.
proc_cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Resident memory of a process, MiB.
proc_rss_mib() {
    awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# First value of "key": in a pretty-printed JSON file (flat numbers are all we read).
json_field() {
    sed -n "s/^ *\"$2\": *\\([-0-9.e]*\\),\\{0,1\\}$/\\1/p" "$1" | head -n 1
}

# Starts `coremq standalone` in $1 (flush type $2, shards $3, I/O memory $4, and the
# property lines in $EXTRA_CONF if set); sets NS_PORT, BROKER_PORT, BROKER_PID.
start_coremq() {
    local dir="$1"
    NS_PORT="$(free_port)"
    BROKER_PORT="$(free_port "$NS_PORT")"
    cat > "$dir/broker.properties" <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerIP1=127.0.0.1
listenPort=$BROKER_PORT
storePathRootDir=$dir/store
logDir=$dir/logs
flushDiskType=$2
shardCount=$3
ioMemoryBytesPerShard=$4
metricsPort=0
${EXTRA_CONF:-}
EOF
    HOME="$dir" "$bin" standalone --namesrv-port "$NS_PORT" -c "$dir/broker.properties" \
        > "$dir/standalone.log" 2>&1 &
    BROKER_PID=$!
    wait_port "$BROKER_PORT"
    wait_port "$NS_PORT"
    wait_registered "$NS_PORT" broker-a
}

# Waits (<= 20 s) until the nameserver on 127.0.0.1:$1 lists broker $2: a producer started
# before the broker's first registration finds no route (TOPIC_NOT_EXIST).
wait_registered() {
    for _ in $(seq 200); do
        if "$bin" admin clusterList -n "127.0.0.1:$1" 2>/dev/null | grep -qw "$2"; then return 0; fi
        sleep 0.1
    done
    echo "broker $2 never registered with 127.0.0.1:$1" >&2
    return 1
}

# Stops the broker started by start_coremq and removes $1.
stop_coremq() {
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    rm -rf "$1"
}

# Value of "key": inside the object "block": { ... } of a pretty-printed JSON file.
json_block_field() {
    sed -n "/^ *\"$2\": {/,/}/p" "$1" | sed -n "s/^ *\"$3\": *\\([-0-9.e]*\\),\\{0,1\\}$/\\1/p" | head -n 1
}
