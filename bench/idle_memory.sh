#!/usr/bin/env bash
# Broker memory after load (#16): a fresh standalone on defaults (2 shards, ASYNC_FLUSH),
# `bench producer -s 128 -w 64 -q MESSAGES`, then the broker's RSS at the end of the run and
# IDLE_S seconds later, with the idle release of the read caches off
# (readCacheIdleReleaseMs=0) and on (its default, 5000), alternating for ROUNDS rounds.
# Writes a markdown table to bench/results/.
#
#   bench/idle_memory.sh
#   ROUNDS=1 MESSAGES=100000 bench/idle_memory.sh     # a quick pass
#
# Loopback only; each run is bounded by its message count and a 120 s limit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
ROUNDS="${ROUNDS:-3}"
MESSAGES="${MESSAGES:-400000}"
IDLE_S="${IDLE_S:-15}"
OUT="${OUT:-$repo/bench/results/$(date -u +%F)-vm-idle-memory-table.md}"

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

work="$(mktemp -d)"
cleanup() {
    if [ -n "${BROKER_PID:-}" ]; then
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

{
    echo "| round | readCacheIdleReleaseMs | msgs/s | RSS at boot MiB | RSS at the end MiB | RSS ${IDLE_S} s later MiB |"
    echo "|---|---|---|---|---|---|"
} > "$OUT"
for round in $(seq "$ROUNDS"); do
    for release in 0 5000; do
        dir="$work/$round-$release"
        mkdir -p "$dir"
        EXTRA_CONF="readCacheIdleReleaseMs=$release" start_coremq "$dir" ASYNC_FLUSH 2 1048576
        boot="$(proc_rss_mib "$BROKER_PID")"
        HOME="$dir" timeout 120 "$bin" bench producer -n "127.0.0.1:$NS_PORT" \
            -s 128 -w 64 -q "$MESSAGES" > "$dir/producer.txt"
        end="$(proc_rss_mib "$BROKER_PID")"
        sleep "$IDLE_S"
        idle="$(proc_rss_mib "$BROKER_PID")"
        tps="$(sed -n 's/^Summary: .*s: \([0-9]*\) msgs\/s.*/\1/p' "$dir/producer.txt")"
        echo "| $round | $release | $tps | $boot | $end | $idle |" | tee -a "$OUT"
        kill "$BROKER_PID"
        wait "$BROKER_PID" || true
        BROKER_PID=""
        rm -rf "$dir"
    done
done
echo "wrote $OUT" >&2
