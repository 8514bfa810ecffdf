#!/usr/bin/env bash
# SQL92 property filter against a tag filter on consume (#38): one broker
# (enablePropertyFilter=true) holds a backlog of MESSAGES 128 B messages, message i tagged
# tag<i % 10> with the user property bucket=<i % 10>; then, ROUNDS times and in alternating
# order, a new group drains its 10 % with each filter:
#
#   tag        -e tag3                               (tag hash in the consume index)
#   sql        -f SQL92 -e "bucket = 3"              (the property, read from each record)
#   sql-tags   -f SQL92 -e "TAGS = 'tag3'"
#   sql-and    -f SQL92 -e "bucket BETWEEN 3 AND 3 AND (color IS NULL OR color = 'red')"
#
# Each run is `coremq bench consumer --from-first --count MESSAGES/10`, rated from its first
# message to its last; broker CPU is its /proc stat delta over the run per message
# delivered. The summary gives each filter's median and its ratio to the tag filter's.
#
#   bench/sql_filter.sh                            # 1,000,000 messages, 3 rounds
#   MESSAGES=200000 ROUNDS=2 bench/sql_filter.sh   # a quick pass
#
# Everything runs on loopback; the load stops at MESSAGES and each drain at its count.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
MESSAGES="${MESSAGES:-1000000}"
ROUNDS="${ROUNDS:-3}"
SHARDS="${SHARDS:-2}"
IO_MEMORY="${IO_MEMORY:-16777216}"
OUT="${OUT:-$repo/bench/results/$(date -u +%F)-vm-sql-filter.md}"
# Longest a drain may take before the run is called failed.
DRAIN_LIMIT_S=300

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

work="$(mktemp -d)"
trap 'stop_coremq "$work"' EXIT
EXTRA_CONF="enablePropertyFilter=true" start_coremq "$work" ASYNC_FLUSH "$SHARDS" "$IO_MEMORY"
ns="127.0.0.1:$NS_PORT"
"$bin" admin updateTopic -n "$ns" -b "127.0.0.1:$BROKER_PORT" -t SqlBench -r 8 -w 8 > /dev/null
sleep 1
echo "loading $MESSAGES messages" >&2
"$bin" bench producer -n "$ns" -t SqlBench -s 128 -w 64 -l 10 --buckets 10 -q "$MESSAGES" \
    --json "$work/load.json" > "$work/load.log"
want=$(( MESSAGES / 10 ))

declare -A exprs=(
    [tag]="tag3"
    [sql]="bucket = 3"
    [sql-tags]="TAGS = 'tag3'"
    [sql-and]="bucket BETWEEN 3 AND 3 AND (color IS NULL OR color = 'red')"
)
order=(tag sql sql-tags sql-and)

# One drain with filter $1 in round $2; prints "msgs/s broker-µs-per-message".
run_once() {
    local name="$1" round="$2" type=TAG cpu0 cpu1
    [ "$name" = tag ] || type=SQL92
    cpu0="$(proc_cpu_s "$BROKER_PID")"
    timeout "$DRAIN_LIMIT_S" "$bin" bench consumer -n "$ns" -t SqlBench -g "sql_bench_${name}_$round" \
        -f "$type" -e "${exprs[$name]}" --from-first --count "$want" \
        --json "$work/$name-$round.json" > "$work/$name-$round.log"
    cpu1="$(proc_cpu_s "$BROKER_PID")"
    local got tps
    got="$(json_field "$work/$name-$round.json" messages)"
    tps="$(json_field "$work/$name-$round.json" tps)"
    [ "$got" = "$want" ] || { echo "$name drained $got of $want" >&2; exit 1; }
    awk -v t="$tps" -v a="$cpu0" -v b="$cpu1" -v n="$want" \
        'BEGIN { printf "%.0f %.1f\n", t, (b - a) * 1e6 / n }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# Median of the space-separated numbers in $1.
median_of() { tr ' ' '\n' <<< "$1" | grep . | median; }

rows=""
declare -A tps_of cpu_of
for r in $(seq "$ROUNDS"); do
    # Alternate the order so no filter always runs first (or last) in a round.
    if (( r % 2 == 0 )); then
        this=("${order[3]}" "${order[2]}" "${order[1]}" "${order[0]}")
    else
        this=("${order[@]}")
    fi
    for name in "${this[@]}"; do
        read -r tps cpu < <(run_once "$name" "$r")
        rows+="| $r | $name | \`${exprs[$name]}\` | $tps | $cpu |"$'\n'
        tps_of[$name]+="$tps "
        cpu_of[$name]+="$cpu "
        echo "round $r $name: $tps msgs/s, broker $cpu µs/msg" >&2
    done
done

tag_med="$(median_of "${tps_of[tag]}")"
{
    echo "# SQL92 against tag filters on consume, $(date -u '+%F %H:%M') UTC, $(hostname), $(nproc) cores"
    echo
    echo "Command: \`MESSAGES=$MESSAGES ROUNDS=$ROUNDS SHARDS=$SHARDS bench/sql_filter.sh\`."
    echo "Backlog: \`coremq bench producer -t SqlBench (8 queues) -s 128 -w 64 -l 10 --buckets 10 -q $MESSAGES\`"
    echo "(message i: tag tag<i % 10>, property bucket=<i % 10>), then per run a new group drains"
    echo "the matching 10 % with \`coremq bench consumer --from-first --count $want\` (rate from its"
    echo "first message to its last). Broker ($SHARDS shards, ASYNC_FLUSH,"
    echo "enablePropertyFilter=true) and consumer share the host; filters alternate order each round."
    echo
    echo "| round | filter | expression | delivered msgs/s | broker µs per delivered msg |"
    echo "|---:|---|---|---:|---:|"
    printf '%s' "$rows"
    echo
    echo "| filter | median msgs/s | median broker µs/msg | ratio to tag |"
    echo "|---|---:|---:|---:|"
    for name in "${order[@]}"; do
        med="$(median_of "${tps_of[$name]}")"
        cmed="$(median_of "${cpu_of[$name]}")"
        ratio="$(awk -v a="$med" -v b="$tag_med" 'BEGIN { printf "%.3f", a / b }')"
        echo "| $name | $med | $cmed | $ratio |"
    done
} > "$OUT"
echo "wrote $OUT" >&2
