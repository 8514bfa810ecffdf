#!/usr/bin/env bash
# The standard producer matrix against a freshly started `coremq standalone` per cell:
# message size 128 B / 1 KiB / 4 KiB, -w 16 / 64, ASYNC_FLUSH / SYNC_FLUSH, 1 / 2 shards.
# Writes one JSON report per cell and a markdown table to bench/results/, named by date
# and host, with broker CPU seconds per million messages and broker RSS beside each cell,
# and one latency-vs-throughput chart per flush type and shard count (its cells' send
# p50/p99/p99.9 against msgs/s, drawn by `coremq bench chart` from the JSON reports).
#
#   bench/run.sh                 # 10 s per cell (+2 s warm-up), ~6 minutes
#   DURATION=3 bench/run.sh      # a quick pass
#   SIZES="128" WORKERS="64" FLUSHES="ASYNC_FLUSH" SHARDS="2" bench/run.sh   # one cell
#
# Everything runs on loopback; every run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SIZES="${SIZES:-128 1024 4096}"
WORKERS="${WORKERS:-16 64}"
FLUSHES="${FLUSHES:-ASYNC_FLUSH SYNC_FLUSH}"
SHARDS="${SHARDS:-1 2}"
IO_MEMORY="${IO_MEMORY:-1048576}"

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

stamp="$(date +%Y-%m-%d)-$(hostname -s)"
out="$here/results/$stamp-matrix"
mkdir -p "$out"
table="$here/results/$stamp-matrix.md"
{
    echo "# Producer matrix, $(date '+%Y-%m-%d %H:%M'), $(hostname -s), $(nproc) cores"
    echo
    echo "Command: \`DURATION=$DURATION WARMUP=$WARMUP bench/run.sh\` (coremq bench producer against"
    echo "a fresh \`coremq standalone\` per cell, generator and broker on the same host)."
    echo
    echo "| size | -w | flush | shards | msgs/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | failed | broker CPU s / M msgs | broker RSS MiB | generator cores |"
    echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$table"

for size in $SIZES; do
for w in $WORKERS; do
for flush in $FLUSHES; do
for shards in $SHARDS; do
    cell="s${size}-w${w}-${flush,,}-${shards}sh"
    work="$(mktemp -d)"
    start_coremq "$work" "$flush" "$shards" "$IO_MEMORY"
    cpu0="$(proc_cpu_s "$BROKER_PID")"
    "$bin" bench producer -n "127.0.0.1:$NS_PORT" -s "$size" -w "$w" \
        --duration "$DURATION" --warmup "$WARMUP" --json "$out/$cell.json" > "$out/$cell.log"
    cpu1="$(proc_cpu_s "$BROKER_PID")"
    rss="$(proc_rss_mib "$BROKER_PID")"
    stop_coremq "$work"
    msgs="$(json_field "$out/$cell.json" messages)"
    cpu_per_m="$(awk -v c0="$cpu0" -v c1="$cpu1" -v m="$msgs" -v d="$DURATION" -v wu="$WARMUP" \
        'BEGIN { if (m > 0) printf "%.1f", (c1 - c0) * d / (d + wu) / m * 1e6; else print "-" }')"
    printf '| %s | %s | %s | %s | %.0f | %.2f | %.3f | %.3f | %.3f | %.3f | %s | %s | %s | %.2f |\n' \
        "$size" "$w" "$flush" "$shards" \
        "$(json_field "$out/$cell.json" tps)" "$(json_field "$out/$cell.json" mb_per_s)" \
        "$(json_field "$out/$cell.json" p50)" "$(json_field "$out/$cell.json" p99)" \
        "$(json_field "$out/$cell.json" 'p99.9')" "$(json_field "$out/$cell.json" max)" \
        "$(( $(json_field "$out/$cell.json" send_failed) + $(json_field "$out/$cell.json" response_failed) ))" \
        "$cpu_per_m" "$rss" "$(json_field "$out/$cell.json" cores_busy)" >> "$table"
    tail -n 1 "$table" >&2
done
done
done
done
{
    echo
    echo "Send latency against throughput, one dot per cell (sizes and -w of one flush type and"
    echo "shard count), drawn from the cells' JSON:"
}  >> "$table"
for flush in $FLUSHES; do
for shards in $SHARDS; do
    chart="$stamp-matrix-${flush,,}-${shards}sh.svg"
    "$bin" bench chart --latency send -o "$here/results/$chart" "$out"/*-"${flush,,}-${shards}sh.json"
    {
        echo
        echo "$flush, $shards shard(s): \`coremq bench chart --latency send -o bench/results/$chart bench/results/$stamp-matrix/*-${flush,,}-${shards}sh.json\`"
        echo
        echo "![$flush, $shards shard(s): send latency against throughput]($chart)"
    } >> "$table"
done
done
echo "wrote $table, its charts and $out/" >&2
