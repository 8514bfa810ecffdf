#!/usr/bin/env bash
# End-to-end latency (send → push-consume) against a fresh `coremq standalone`:
# first the maximum rate (`bench producer -w 64` with a consumer draining), then runs at
# fixed fractions of it with `bench producer --rate R --e2e` (latency from the scheduled
# send time: coordinated-omission-safe) while `bench consumer` measures due → consumed.
# Writes the JSON reports, a table and a latency-vs-throughput SVG to bench/results/.
#
#   bench/latency.sh                          # 10 s per level, levels 10 25 50 75 90 %
#   DURATION=4 LEVELS="10 50 90" bench/latency.sh   # a quick pass
#   FLUSH=SYNC_FLUSH SHARDS=1 bench/latency.sh
#
# Everything runs on loopback; every run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
DURATION="${DURATION:-10}"
LEVELS="${LEVELS:-10 25 50 75 90}"
FLUSH="${FLUSH:-ASYNC_FLUSH}"
SHARDS="${SHARDS:-2}"
SIZE="${SIZE:-128}"
WORKERS="${WORKERS:-64}"
TOPIC="${TOPIC:-BenchmarkTest}"
IO_MEMORY="${IO_MEMORY:-1048576}"
# Seconds the consumer gets to join and rebalance before a producer starts.
JOIN_S=3

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

stamp="$(date +%Y-%m-%d)-$(hostname -s)"
out="$here/results/$stamp-latency"
mkdir -p "$out"
table="$here/results/$stamp-latency.md"
work="$(mktemp -d)"
trap 'stop_coremq "$work"' EXIT
start_coremq "$work" "$FLUSH" "$SHARDS" "$IO_MEMORY"
ns="127.0.0.1:$NS_PORT"
# The topic exists before the first consumer subscribes.
"$bin" bench producer -n "$ns" -t "$TOPIC" -s "$SIZE" -q 1 > /dev/null

# One level: a consumer and a producer with $@. Levels share one group, so each starts
# where the last one left off (a new group may be handed old messages by the broker's
# young-queue rule, as RocketMQ does); E2E counts only messages due after it started.
# Writes $out/$1-producer.json and $out/$1-consumer.json.
level() {
    local name="$1"
    shift
    "$bin" bench consumer -n "$ns" -t "$TOPIC" -g latency_sweep \
        --warmup $((JOIN_S + 1)) --duration $((DURATION + 2)) \
        --json "$out/$name-consumer.json" > "$out/$name-consumer.log" &
    local consumer=$!
    sleep "$JOIN_S"
    "$bin" bench producer -n "$ns" -t "$TOPIC" -s "$SIZE" -w "$WORKERS" --warmup 1 \
        --duration "$DURATION" --json "$out/$name-producer.json" "$@" > "$out/$name-producer.log"
    wait "$consumer"
}

level max --e2e
max="$(json_field "$out/max-producer.json" tps)"
max="${max%.*}"
echo "maximum rate with a consumer draining: $max msgs/s" >&2
{
    echo "# End-to-end latency, $(date '+%Y-%m-%d %H:%M'), $(hostname -s), $(nproc) cores"
    echo
    echo "Command: \`DURATION=$DURATION LEVELS=\"$LEVELS\" FLUSH=$FLUSH SHARDS=$SHARDS SIZE=$SIZE bench/latency.sh\`"
    echo "(one \`coremq standalone\`; per level a \`bench consumer\` and a \`bench producer -s $SIZE"
    echo "-w $WORKERS --rate R --e2e\` on topic $TOPIC, all on this host). E2E runs from each"
    echo "message's scheduled send time to its delivery to the push consumer's listener."
    echo
    echo "Maximum rate (\`bench producer -w $WORKERS\`, consumer draining): $max msgs/s."
    echo
    echo "| level | offered msgs/s | sent msgs/s | consumed | e2e p50 ms | e2e p99 ms | e2e p99.9 ms | e2e max ms | send p99 ms | failed |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$table"
row() {
    local name="$1" label="$2" offered="$3" p="$out/$1-producer.json" c="$out/$1-consumer.json"
    printf '| %s | %s | %.0f | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n' \
        "$label" "$offered" "$(json_field "$p" tps)" "$(json_field "$c" e2e_messages)" \
        "$(json_block_field "$c" e2e_latency_ms p50)" "$(json_block_field "$c" e2e_latency_ms p99)" \
        "$(json_block_field "$c" e2e_latency_ms 'p99.9')" "$(json_block_field "$c" e2e_latency_ms max)" \
        "$(json_block_field "$p" latency_ms p99)" \
        "$(( $(json_field "$p" send_failed) + $(json_field "$p" response_failed) ))" >> "$table"
    tail -n 1 "$table" >&2
}
for pct in $LEVELS; do
    rate=$((max * pct / 100))
    level "$pct" --rate "$rate" --e2e
    row "$pct" "$pct%" "$rate"
done
row max max "-"
chart="$stamp-latency.svg"
"$bin" bench chart --latency e2e -o "$here/results/$chart" "$out"/*-consumer.json
{
    echo
    echo "![end-to-end latency against throughput]($chart)"
    echo
    echo "Chart: \`coremq bench chart --latency e2e -o bench/results/$chart bench/results/$stamp-latency/*-consumer.json\`"
    echo "(x: the rate the measured messages were sent at; y: e2e p50/p99/p99.9, log scale)."
} >> "$table"
echo "wrote $table, $here/results/$chart and $out/" >&2
