#!/usr/bin/env bash
# Master/slave on one host (#15): `coremq bench producer -s 128 -w 64` against a standalone
# broker, an ASYNC_MASTER pair and a SYNC_MASTER pair (each a fresh nameserver + broker
# processes, ASYNC_FLUSH as in conf/2m-2s-*), then the time a fresh slave takes to catch up
# with a master holding CATCHUP_MIB of log, beside the device's direct-I/O write bandwidth
# measured in the same run (`coremq bench store`). Writes a markdown report with the
# commands to bench/results/.
#
#   bench/ha.sh                                # 15 s per run, 1 GiB catch-up
#   DURATION=5 CATCHUP_MIB=256 bench/ha.sh     # a quick pass
#   SETUPS= bench/ha.sh                        # the catch-up alone
#   ROUNDS=5 bench/ha.sh                       # five alternating rounds (default 3)
#
# Everything runs on loopback; every run is bounded (DURATION, CATCHUP_LIMIT_S).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
CATCHUP_MIB="${CATCHUP_MIB:-1024}"
CATCHUP_LIMIT_S="${CATCHUP_LIMIT_S:-600}"
SHARDS="${SHARDS:-2}"
SETUPS="${SETUPS-standalone ASYNC_MASTER SYNC_MASTER}"
# The setups run in turn ROUNDS times (this host is shared and noisy); the summary takes
# each setup's median.
ROUNDS="${ROUNDS:-3}"

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

# Starts a nameserver in $1; sets NS_PORT.
start_ns() {
    NS_PORT="$(free_port)"
    printf 'listenPort=%s\nkvConfigPath=%s/kv.json\nlogDir=%s/logs-ns\n' "$NS_PORT" "$1" "$1" > "$1/ns.properties"
    HOME="$1" "$bin" namesrv -c "$1/ns.properties" > "$1/ns.out" 2>&1 &
    pids+=($!)
    wait_port "$NS_PORT"
}

# Starts a broker in $1/$2 with role $3 (extra lines in $4); sets PORT and PID.
start_broker() {
    local dir="$1/$2" id=0
    mkdir -p "$dir"
    PORT="$(free_port)"
    [ "$3" = SLAVE ] && id=1
    cat > "$dir/broker.properties" <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=$id
brokerRole=$3
flushDiskType=ASYNC_FLUSH
brokerIP1=127.0.0.1
listenPort=$PORT
haListenPort=$((PORT + 1))
storePathRootDir=$dir/store
logDir=$dir/logs
shardCount=$SHARDS
metricsPort=0
${4:-}
EOF
    HOME="$dir" "$bin" broker -c "$dir/broker.properties" -n "127.0.0.1:$NS_PORT" > "$dir/out" 2>&1 &
    PID=$!
    pids+=("$PID")
    wait_port "$PORT"
}

# haLagBytes of a broker's runtime table.
lag_of() {
    "$bin" admin brokerStatus -n "127.0.0.1:$NS_PORT" -b "127.0.0.1:$1" 2>/dev/null |
        awk -F': ' '/^haLagBytes/ { print $2 }'
}

stamp="$(date +%Y-%m-%d)-$(hostname -s)"
report="$here/results/$stamp-ha.md"
{
    echo "# Master/slave on one host, $(date '+%Y-%m-%d %H:%M'), $(hostname -s), $(nproc) cores"
    echo
    echo "Command: \`DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS CATCHUP_MIB=$CATCHUP_MIB SHARDS=$SHARDS SETUPS=\"$SETUPS\" bench/ha.sh\`."
    echo "Producer: \`coremq bench producer -t HaBench (8 queues) -s 128 -w 64 --duration $DURATION --warmup $WARMUP\`;"
    echo "nameserver, brokers and generator on the same $(nproc)-core host (master and slave share"
    echo "its cores and its disk), ASYNC_FLUSH everywhere, $SHARDS shards per broker."
    echo
    echo "| round | setup | msgs/s | p50 ms | p99 ms | p99.9 ms | failed | vs first setup of the round |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
} > "$report"

rows=""
for round in $(seq "$ROUNDS"); do
base_tps=""
for setup in $SETUPS; do
    work="$(mktemp -d)"
    start_ns "$work"
    case "$setup" in
        standalone) start_broker "$work" master ASYNC_MASTER ;;
        *)
            start_broker "$work" master "$setup"
            start_broker "$work" slave SLAVE
            sleep 3 # the slave learns its master at its first registrations
            ;;
    esac
    "$bin" bench producer -n "127.0.0.1:$NS_PORT" -t HaBench -s 128 -w 64 --duration "$DURATION" \
        --warmup "$WARMUP" --json "$work/p.json" > "$work/p.log"
    tps="$(json_field "$work/p.json" tps)"
    [ -z "$base_tps" ] && base_tps="$tps"
    rows="$rows$setup $tps"$'\n'
    printf '| %s | %s | %.0f | %.3f | %.3f | %.3f | %s | %.2f |\n' "$round" "$setup" "$tps" \
        "$(json_field "$work/p.json" p50)" "$(json_field "$work/p.json" p99)" \
        "$(json_field "$work/p.json" 'p99.9')" \
        "$(( $(json_field "$work/p.json" send_failed) + $(json_field "$work/p.json" response_failed) ))" \
        "$(awk -v a="$tps" -v b="$base_tps" 'BEGIN { print a / b }')" >> "$report"
    tail -n 1 "$report" >&2
    cleanup
    rm -rf "$work"
done
done
if [ -n "$SETUPS" ]; then
    {
        echo
        echo "Median msgs/s over the rounds, and each setup against the one before it:"
        echo
        echo "| setup | median msgs/s | vs previous setup |"
        echo "|---|---:|---:|"
        prev=""
        for setup in $SETUPS; do
            med="$(printf '%s' "$rows" | awk -v s="$setup" '$1 == s { print $2 }' | sort -g |
                awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')"
            printf '| %s | %.0f | %s |\n' "$setup" "$med" \
                "$([ -n "$prev" ] && awk -v a="$med" -v b="$prev" 'BEGIN { printf "%.2f", a / b }' || echo -)"
            prev="$med"
        done
    } >> "$report"
fi

# Catch-up: a master alone fills CATCHUP_MIB of log, then a fresh slave follows it.
work="$(mktemp -d)"
start_ns "$work"
start_broker "$work" master ASYNC_MASTER
master_port="$PORT"
# 4000-byte bodies: under the client's 4 KiB compression threshold, so the log grows by
# what is sent.
count=$(( CATCHUP_MIB * 1024 * 1024 / (4000 + 200) ))
"$bin" bench producer -n "127.0.0.1:$NS_PORT" -t HaBench -s 4000 -w 32 -q "$count" > "$work/fill.log"
log_bytes="$(du -sb "$work/master/store" | cut -f1)"
start_broker "$work" slave SLAVE
slave_port="$PORT"
t0="$(date +%s.%N)"
while :; do
    lag="$(lag_of "$slave_port")"
    m="$("$bin" admin haStatus -n "127.0.0.1:$NS_PORT" -b "127.0.0.1:$master_port" 2>/dev/null | awk -F': ' '/^#MasterCommitLogMaxOffset/ { print $2 }')"
    s="$("$bin" admin haStatus -n "127.0.0.1:$NS_PORT" -b "127.0.0.1:$slave_port" 2>/dev/null | awk -F': ' '/^#CommitLogMaxOffset/ { print $2 }')"
    if [ -n "$m" ] && [ "$m" = "$s" ] && [ "$lag" = 0 ]; then break; fi
    if awk -v t0="$t0" -v now="$(date +%s.%N)" -v lim="$CATCHUP_LIMIT_S" 'BEGIN { exit !(now - t0 > lim) }'; then
        echo "catch-up did not finish within $CATCHUP_LIMIT_S s" >&2
        break
    fi
    sleep 0.2
done
t1="$(date +%s.%N)"
copied="${m:-0}"
# The slave logs each shard's transfer from connect to the master's end at connect.
caught="$(grep -rh 'caught up with the master' "$work/slave/out" "$work/slave/logs" 2>/dev/null |
    sed -n 's/.*bytes=\([0-9]*\).*ms=\([0-9]*\).*/\1 \2/p' | sort -u)"
cleanup
"$bin" bench store --dir "$work" --duration 3 --warmup 1 --json "$work/dev.json" > "$work/dev.log"
dev_mb="$(json_field "$work/dev.json" device_write_mb_per_sec)"
# On one host the master reads the backlog from the disk the slave writes to: the
# device's direct-I/O read rate (the master's log, 4 MiB reads, one stream per shard as
# the senders read) bounds the catch-up as much as its write rate.
per_shard=$(( ${copied:-0} / SHARDS / 4194304 ))
read_mb="$(find "$work/master/store" -path '*commitlog*' -type f -size +1M | {
    r0="$(date +%s.%N)"; total=0
    while read -r f; do
        dd if="$f" of=/dev/null bs=4M count="$per_shard" iflag=direct status=none &
        total=$((total + per_shard * 4194304))
    done
    wait
    awk -v b="$total" -v t0="$r0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.0f", b / (t1 - t0) / 1e6 }'
})"
rm -rf "$work"
{
    echo
    echo "## Catch-up of a fresh slave"
    echo
    echo "A master alone stored $count messages of 4,000 B (\`bench producer -s 4000 -w 32 -q $count\`,"
    echo "$((log_bytes / 1048576)) MiB of store); a slave with an empty store then started and"
    echo "followed it until its log end equalled the master's (polled every 0.2 s)."
    echo
    awk -v b="$copied" -v t0="$t0" -v t1="$t1" -v d="$dev_mb" 'BEGIN {
        s = t1 - t0; mb = b / s / 1e6;
        printf "| log bytes copied | seconds | MB/s | device direct-I/O write MB/s | ratio |\n|---:|---:|---:|---:|---:|\n";
        printf "| %d | %.1f | %.0f | %.0f | %.2f |\n", b, s, mb, d, (d > 0 ? mb / d : 0) }'
    echo
    echo "Per shard, from the slave's log (\"caught up with the master's end at connect\": the"
    echo "backlog each link found at connect, from HELLO to the slave holding it; the shards copy"
    echo "in parallel, so the link rate is their bytes over the slowest one's time):"
    echo
    echo '| shard backlogs (bytes, ms) | link MB/s | device write MB/s | ratio | device read MB/s | ratio |'
    echo '|---|---:|---:|---:|---:|---:|'
    echo "$caught" | awk -v d="$dev_mb" -v r="$read_mb" 'NF == 2 { b += $1; if ($2 > ms) ms = $2; l = l sprintf("%s%d B in %d ms", (l ? "; " : ""), $1, $2) }
        END { mb = (ms > 0 ? b / (ms / 1000) / 1e6 : 0); printf "| %s | %.0f | %.0f | %.2f | %.0f | %.2f |\n", l, mb, d, (d > 0 ? mb / d : 0), r, (r > 0 ? mb / r : 0) }'
} >> "$report"
tail -n 4 "$report" >&2
echo "wrote $report" >&2
