#!/usr/bin/env bash
# Connection moves (src/remoting/handover.rs): a producer whose sends all go to one queue
# (`bench producer --queue Q`, an ordered producer with one sharding key), against a fresh
# 2-shard `coremq standalone` per run, alternating connectionMoveEnable=true and false
# round by round. The kernel spreads connections over the shards (SO_REUSEPORT), so a run
# lands on the queue's shard or the other one; each line says where (the shards'
# connection gauges mid-run: the broker's own nameserver link is on shard 0) and whether
# it moved. Prints one line per run:
#   round move msgs/s p50-ms p99-ms broker-CPU-s-per-million conns-per-shard moves-per-shard
#
#   bench/moves.sh                 # 6 rounds, queue 1, 5 s measured per run
#   ROUNDS=2 DURATION=3 bench/moves.sh
#
# Everything runs on loopback; every run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
ROUNDS="${ROUNDS:-6}"
DURATION="${DURATION:-5}"
QUEUE="${QUEUE:-1}"
IO_MEMORY="${IO_MEMORY:-16777216}"

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

# The values of one metric family, one per shard, joined by "/".
per_shard() {
    curl -s "127.0.0.1:$1/metrics" | awk -v f="$2{" 'index($0, f) == 1 { s = s $NF "/" } END { print s }'
}

run() {
    local move="$1" dir mp c0 c1 out n
    dir="$(mktemp -d)"
    mp="$(free_port)"
    EXTRA_CONF="connectionMoveEnable=$move
metricsPort=$mp" start_coremq "$dir" ASYNC_FLUSH 2 "$IO_MEMORY"
    "$bin" bench producer -n "127.0.0.1:$NS_PORT" -s 128 -w 64 --duration 2 --queue "$QUEUE" \
        > /dev/null 2>&1
    c0="$(proc_cpu_s "$BROKER_PID")"
    "$bin" bench producer -n "127.0.0.1:$NS_PORT" -s 128 -w 64 --duration "$DURATION" \
        --queue "$QUEUE" > "$dir/out" 2>&1 &
    local gen=$!
    sleep "$(( DURATION / 2 + 1 ))"
    local conns
    conns="$(per_shard "$mp" coremq_shard_connections)"
    wait "$gen"
    c1="$(proc_cpu_s "$BROKER_PID")"
    out="$(cat "$dir/out")"
    n="$(sed -n 's/Summary: \([0-9]*\) messages.*/\1/p' <<< "$out")"
    printf '%s %s %s %s %s %s\n' "$move" \
        "$(sed -n 's/.*s: \([0-9]*\) msgs\/s.*/\1/p' <<< "$out")" \
        "$(sed -n 's/Send latency (ms): p50 \([0-9.]*\) .*p99 \([0-9.]*\) .*/\1 \2/p' <<< "$out")" \
        "$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n * 1e6 }')" \
        "conns:$conns" "moved:$(per_shard "$mp" coremq_shard_connections_moved_total)"
    kill "$BROKER_PID"
    wait "$BROKER_PID" 2> /dev/null || true
    rm -rf "$dir"
}

for r in $(seq "$ROUNDS"); do
    for move in true false; do
        printf '%s ' "$r"
        run "$move"
    done
done
