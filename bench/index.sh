#!/usr/bin/env bash
# Cost of the message index (#18) on sends: `coremq bench producer -k true` (a key on every
# message, besides the unique key every producer sets) against a fresh nameserver + broker
# with messageIndexEnable=true and =false in alternation, ROUNDS times; the summary takes
# each setting's median and their ratio. Writes a markdown report to bench/results/.
#
#   bench/index.sh                         # 15 s per run, 3 rounds
#   DURATION=5 ROUNDS=2 bench/index.sh     # a quick pass
#
# Everything runs on loopback; each run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-3}"
SHARDS="${SHARDS:-2}"
SIZE="${SIZE:-128}"
WRITERS="${WRITERS:-64}"
OUT="${OUT:-$repo/bench/results/$(date -u +%F)-vm-index.md}"

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
trap cleanup EXIT

# One run with messageIndexEnable=$1; prints "tps p50 p99 p99.9 failed".
run_once() {
    local work
    work="$(mktemp -d)"
    local ns_port port
    ns_port="$(free_port)"
    printf 'listenPort=%s\nkvConfigPath=%s/kv.json\nlogDir=%s/logs-ns\n' "$ns_port" "$work" "$work" > "$work/ns.properties"
    HOME="$work" "$bin" namesrv -c "$work/ns.properties" > "$work/ns.out" 2>&1 &
    pids+=($!)
    wait_port "$ns_port"
    port="$(free_port)"
    cat > "$work/broker.properties" <<CONF
brokerName=broker-a
brokerIP1=127.0.0.1
listenPort=$port
storePathRootDir=$work/store
logDir=$work/logs
shardCount=$SHARDS
metricsPort=0
messageIndexEnable=$1
CONF
    HOME="$work" "$bin" broker -c "$work/broker.properties" -n "127.0.0.1:$ns_port" > "$work/broker.out" 2>&1 &
    pids+=($!)
    wait_port "$port"
    "$bin" admin updateTopic -n "127.0.0.1:$ns_port" -b "127.0.0.1:$port" -t IndexBench -r 8 -w 8 > /dev/null
    sleep 1
    "$bin" bench producer -n "127.0.0.1:$ns_port" -t IndexBench -s "$SIZE" -w "$WRITERS" -k true \
        --duration "$DURATION" --warmup "$WARMUP" --json "$work/p.json" > "$work/p.log"
    printf '%s %s %s %s %s\n' "$(json_field "$work/p.json" tps)" \
        "$(json_field "$work/p.json" p50)" "$(json_field "$work/p.json" p99)" \
        "$(json_field "$work/p.json" 'p99.9')" \
        "$(( $(json_field "$work/p.json" send_failed) + $(json_field "$work/p.json" response_failed) ))"
    cleanup
    rm -rf "$work"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

rows=""
on_tps=()
off_tps=()
for r in $(seq "$ROUNDS"); do
    for setting in true false; do
        read -r tps p50 p99 p999 failed < <(run_once "$setting")
        rows+="| $r | $setting | $tps | $p50 | $p99 | $p999 | $failed |"$'\n'
        if [ "$setting" = true ]; then on_tps+=("$tps"); else off_tps+=("$tps"); fi
        echo "round $r messageIndexEnable=$setting: $tps msgs/s" >&2
    done
done
on_med="$(printf '%s\n' "${on_tps[@]}" | median)"
off_med="$(printf '%s\n' "${off_tps[@]}" | median)"
ratio="$(awk -v a="$on_med" -v b="$off_med" 'BEGIN { printf "%.3f", a / b }')"

{
    echo "# Message index cost on sends, $(date -u '+%F %H:%M') UTC, $(hostname), $(nproc) cores"
    echo
    echo "Command: \`DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS SHARDS=$SHARDS SIZE=$SIZE WRITERS=$WRITERS bench/index.sh\`."
    echo "Producer: \`coremq bench producer -t IndexBench (8 queues) -s $SIZE -w $WRITERS -k true --duration $DURATION --warmup $WARMUP\`"
    echo "(every message carries a key and its unique key: 2 index entries); nameserver, broker"
    echo "($SHARDS shards, ASYNC_FLUSH) and generator share the host. Settings alternate each round."
    echo
    echo "| round | messageIndexEnable | msgs/s | p50 ms | p99 ms | p99.9 ms | failed |"
    echo "|---:|---|---:|---:|---:|---:|---:|"
    printf '%s' "$rows"
    echo
    echo "| messageIndexEnable | median msgs/s |"
    echo "|---|---:|"
    echo "| true | $on_med |"
    echo "| false | $off_med |"
    echo
    echo "Index on / off: **$ratio**."
} > "$OUT"
echo "wrote $OUT" >&2
