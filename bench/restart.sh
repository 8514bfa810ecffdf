#!/usr/bin/env bash
# Restart time of a standalone after SIGKILL (#16): for each size in SIZES_GIB, fills a fresh
# store with that much commit log (`coremq bench producer -s SIZE`), SIGKILLs the process,
# starts it again on the same store and times spawn -> the broker's boot line (recovery
# replays the log from the last checkpoint). A clean stop (SIGTERM) and restart of the same
# store is timed beside it. Writes a markdown report to bench/results/.
#
#   bench/restart.sh                       # 1 GiB and 10 GiB
#   SIZES_GIB="1" bench/restart.sh         # a quick pass
#
# Everything runs on loopback; each fill is bounded by its message count, each start by
# START_LIMIT_S.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SIZES_GIB="${SIZES_GIB:-1 10}"
SIZE="${SIZE:-4096}"
WRITERS="${WRITERS:-64}"
SHARDS="${SHARDS:-2}"
IO_MEMORY="${IO_MEMORY:-1048576}"
START_LIMIT_S="${START_LIMIT_S:-300}"
OUT="${OUT:-$repo/bench/results/$(date -u +%F)-vm-restart.md}"

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

work=""
cleanup() {
    if [ -n "${BROKER_PID:-}" ]; then
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# Starts the standalone again on $work's store; sets STARTED_S (seconds from spawn to the
# broker's boot line) and BROKER_PID. Not run in $(...): BROKER_PID must reach the caller.
timed_start() {
    local log="$work/standalone-$1.log" t0 t1
    t0="$(date +%s.%N)"
    HOME="$work" "$bin" standalone --namesrv-port "$NS_PORT" -c "$work/broker.properties" \
        > "$log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq $((START_LIMIT_S * 50))); do
        if grep -q "The broker\[.*boot success" "$log"; then
            t1="$(date +%s.%N)"
            STARTED_S="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
            return 0
        fi
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            echo "the standalone exited during start; $log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.02
    done
    echo "no boot line within ${START_LIMIT_S} s" >&2
    return 1
}

# Bytes of records written to every shard's commit log (the recovery report's end).
log_end_bytes() {
    grep -ho 'store recovered shard=[0-9]* clean=[a-z]* from=[0-9]* end=[0-9]*' \
        "$work/logs/broker.log" | tail -n "$SHARDS" |
        sed 's/.*end=//' | awk '{ s += $1 } END { print s + 0 }'
}

rows=""
for gib in $SIZES_GIB; do
    work="$(mktemp -d)"
    start_coremq "$work" ASYNC_FLUSH "$SHARDS" "$IO_MEMORY"
    ns="127.0.0.1:$NS_PORT"
    "$bin" admin updateTopic -n "$ns" -b "127.0.0.1:$BROKER_PORT" -t RestartBench -r 8 -w 8 > /dev/null
    # A record is the body plus ~120 bytes of header and properties.
    count=$(( gib * 1073741824 / (SIZE + 120) ))
    echo "filling ${gib} GiB: $count messages of $SIZE B" >&2
    "$bin" bench producer -n "$ns" -t RestartBench -s "$SIZE" -w "$WRITERS" -q "$count" > "$work/fill.log"
    grep -E "^(Summary|Errors)" "$work/fill.log" >&2 || true
    if ! kill -KILL "$BROKER_PID" 2>/dev/null; then
        echo "the standalone died during the fill; its output:" >&2
        tail -n 30 "$work/standalone.log" >&2
        exit 1
    fi
    wait "$BROKER_PID" 2>/dev/null || true
    timed_start kill
    after_kill="$STARTED_S"
    written="$(log_end_bytes)"
    replayed="$(grep -ho 'replayed=[0-9]*' "$work/logs/broker.log" | tail -n "$SHARDS" |
        sed 's/replayed=//' | awk '{ s += $1 } END { print s + 0 }')"
    kill -TERM "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
    timed_start clean
    after_clean="$STARTED_S"
    kill -TERM "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
    gib_written="$(awk -v b="$written" 'BEGIN { printf "%.2f", b / 1073741824 }')"
    rows+="| $gib | $gib_written | $count | $replayed | $after_kill | $after_clean |"$'\n'
    echo "${gib} GiB: restart after SIGKILL ${after_kill} s, after a clean stop ${after_clean} s" >&2
    rm -rf "$work"
    work=""
done

{
    echo "# Restart time after SIGKILL, $(date -u '+%F %H:%M') UTC, $(hostname), $(nproc) cores"
    echo
    echo "Command: \`SIZES_GIB=\"$SIZES_GIB\" SIZE=$SIZE WRITERS=$WRITERS SHARDS=$SHARDS IO_MEMORY=$IO_MEMORY bench/restart.sh\`."
    echo "A fresh \`coremq standalone\` ($SHARDS shards, ASYNC_FLUSH) is filled with"
    echo "\`bench producer -t RestartBench (8 queues) -s $SIZE -w $WRITERS -q COUNT\`, SIGKILLed, and started"
    echo "again on the same store; the time is spawn -> the broker's boot line. Then a clean stop"
    echo "(SIGTERM) and start of the same store. Records replayed: what recovery re-read past the"
    echo "last checkpoint, summed over shards."
    echo
    echo "| target GiB | log written GiB | messages | records replayed | restart after SIGKILL s | restart after clean stop s |"
    echo "|---:|---:|---:|---:|---:|---:|"
    printf '%s' "$rows"
} > "$OUT"
echo "wrote $OUT" >&2
