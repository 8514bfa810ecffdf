#!/usr/bin/env bash
# One producer workload against coremq and against the reference peer — the Rust port of
# RocketMQ (crates.io rocketmq-namesrv / rocketmq-broker 1.0.0) — in alternation within
# one run (coremq, peer, coremq, peer, ...), each on a fresh store, with the same client
# (`coremq bench producer`). Prints every round and the ratio of the means, and writes
# bench/results/<date>-<host>-compare.md plus the JSON reports.
#
#   bench/compare.sh                          # -s 128 -w 64, ASYNC_FLUSH and SYNC_FLUSH
#   ROUNDS=3 DURATION=20 bench/compare.sh -s 1024 -w 16
#
# The peer is built once into bench/peer/ (ignored by git; ~30 minutes on 2 cores) and
# reused. Everything runs on loopback; every run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
ROUNDS="${ROUNDS:-2}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
FLUSHES="${FLUSHES:-ASYNC_FLUSH SYNC_FLUSH}"
SHARDS="${SHARDS:-2}"
IO_MEMORY="${IO_MEMORY:-1048576}"
PEER_VERSION="1.0.0"
WORKLOAD=("$@")
[ ${#WORKLOAD[@]} -eq 0 ] && WORKLOAD=(-s 128 -w 64)

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

peer="$here/peer"
if [ ! -x "$peer/bin/rocketmq-broker-rust" ] || [ ! -x "$peer/bin/rocketmq-namesrv-rust" ]; then
    echo "building the peer (rocketmq-namesrv/rocketmq-broker $PEER_VERSION) into $peer once" >&2
    # Build outside the repository (the target dir is large and full of this host's
    # paths) and keep only the installed binaries.
    build="$(mktemp -d)"
    CARGO_TARGET_DIR="$build" cargo install --locked --root "$peer" \
        rocketmq-namesrv rocketmq-broker --version "$PEER_VERSION" >&2 ||
    CARGO_TARGET_DIR="$build" cargo install --root "$peer" \
        rocketmq-namesrv rocketmq-broker --version "$PEER_VERSION" >&2
    rm -rf "$build"
fi

# Starts the peer's nameserver and broker in $1 (flush $2); sets NS_PORT, BROKER_PORT,
# BROKER_PID, PEER_NS_PID.
start_peer() {
    local dir="$1"
    NS_PORT="$(free_port)"
    BROKER_PORT="$(free_port "$NS_PORT")"
    HOME="$dir" ROCKETMQ_HOME="$dir" "$peer/bin/rocketmq-namesrv-rust" \
        --listenPort "$NS_PORT" --bindAddress 127.0.0.1 --kvConfigPath "$dir/kv.json" \
        > "$dir/namesrv.log" 2>&1 &
    PEER_NS_PID=$!
    wait_port "$NS_PORT"
    cat > "$dir/broker.properties" <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-peer
brokerId=0
brokerIP1=127.0.0.1
listenPort=$BROKER_PORT
namesrvAddr=127.0.0.1:$NS_PORT
storePathRootDir=$dir/store
storePathCommitLog=$dir/store/commitlog
flushDiskType=$2
autoCreateTopicEnable=true
EOF
    HOME="$dir" ROCKETMQ_HOME="$dir" "$peer/bin/rocketmq-broker-rust" \
        -c "$dir/broker.properties" -n "127.0.0.1:$NS_PORT" > "$dir/broker.log" 2>&1 &
    BROKER_PID=$!
    wait_port "$BROKER_PORT"
}

stop_peer() {
    kill -TERM "$BROKER_PID" "$PEER_NS_PID" 2>/dev/null || true
    wait "$BROKER_PID" "$PEER_NS_PID" 2>/dev/null || true
    rm -rf "$1"
}

# Runs the workload against the broker of the current target until its route answers.
run_workload() {
    local json="$1" log="$2"
    for _ in 1 2 3 4 5; do
        if "$bin" bench producer -n "127.0.0.1:$NS_PORT" "${WORKLOAD[@]}" \
            --duration "$DURATION" --warmup "$WARMUP" --json "$json" > "$log" 2>&1; then
            return 0
        fi
        sleep 2   # the broker's first registration may not have reached the nameserver
    done
    echo "the workload failed 5 times; see $log" >&2
    return 1
}

stamp="$(date +%Y-%m-%d)-$(hostname -s)"
out="$here/results/$stamp-compare"
mkdir -p "$out"
report="$here/results/$stamp-compare.md"
{
    echo "# coremq vs rocketmq-rust $PEER_VERSION, $(date '+%Y-%m-%d %H:%M'), $(hostname -s), $(nproc) cores"
    echo
    echo "Command: \`ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP bench/compare.sh ${WORKLOAD[*]}\`"
    echo "(client: \`coremq bench producer ${WORKLOAD[*]}\` for both; coremq with $SHARDS shards;"
    echo "fresh store per round; client and brokers share the host)."
    echo
    echo "| flush | broker | round | msgs/s | p50 ms | p99 ms | p99.9 ms | failed | broker CPU s / M msgs | broker RSS MiB |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$report"

summary=()
for flush in $FLUSHES; do
    declare -A sum_tps=() sum_p99=() sum_cpu=() n=()
    for round in $(seq "$ROUNDS"); do
        for target in coremq peer; do
            work="$(mktemp -d)"
            if [ "$target" = coremq ]; then
                start_coremq "$work" "$flush" "$SHARDS" "$IO_MEMORY"
            else
                start_peer "$work" "$flush"
            fi
            cell="$out/${flush,,}-$target-$round"
            cpu0="$(proc_cpu_s "$BROKER_PID")"
            ok=1
            run_workload "$cell.json" "$cell.log" || ok=0
            cpu1="$(proc_cpu_s "$BROKER_PID")"
            rss="$(proc_rss_mib "$BROKER_PID")"
            if [ "$target" = coremq ]; then stop_coremq "$work"; else stop_peer "$work"; fi
            [ "$ok" = 1 ] || continue
            tps="$(json_field "$cell.json" tps)"
            msgs="$(json_field "$cell.json" messages)"
            p99="$(json_field "$cell.json" p99)"
            cpu="$(awk -v a="$cpu0" -v b="$cpu1" -v m="$msgs" -v d="$DURATION" -v w="$WARMUP" \
                'BEGIN { if (m > 0) printf "%.1f", (b - a) * d / (d + w) / m * 1e6; else print 0 }')"
            printf '| %s | %s | %s | %.0f | %.3f | %.3f | %.3f | %s | %s | %s |\n' \
                "$flush" "$target" "$round" "$tps" "$(json_field "$cell.json" p50)" "$p99" \
                "$(json_field "$cell.json" 'p99.9')" \
                "$(( $(json_field "$cell.json" send_failed) + $(json_field "$cell.json" response_failed) ))" \
                "$cpu" "$rss" | tee -a "$report" >&2
            sum_tps[$target]="$(awk -v a="${sum_tps[$target]:-0}" -v b="$tps" 'BEGIN { print a + b }')"
            sum_p99[$target]="$(awk -v a="${sum_p99[$target]:-0}" -v b="$p99" 'BEGIN { print a + b }')"
            sum_cpu[$target]="$(awk -v a="${sum_cpu[$target]:-0}" -v b="$cpu" 'BEGIN { print a + b }')"
            n[$target]=$(( ${n[$target]:-0} + 1 ))
        done
    done
    if [ "${n[coremq]:-0}" -gt 0 ] && [ "${n[peer]:-0}" -gt 0 ]; then
        summary+=("$(awk -v f="$flush" \
            -v ct="${sum_tps[coremq]}" -v pt="${sum_tps[peer]}" \
            -v cp="${sum_p99[coremq]}" -v pp="${sum_p99[peer]}" \
            -v cc="${sum_cpu[coremq]}" -v pc="${sum_cpu[peer]}" \
            -v nc="${n[coremq]}" -v np="${n[peer]}" 'BEGIN {
            printf "| %s | %.0f | %.0f | %.1fx | %.3f | %.3f | %.2fx | %.1f | %.1f | %.2fx |", f,
                ct / nc, pt / np, (ct / nc) / (pt / np > 0 ? pt / np : 1),
                cp / nc, pp / np, (cp / nc) / (pp / np > 0 ? pp / np : 1),
                cc / nc, pc / np, (cc / nc) / (pc / np > 0 ? pc / np : 1) }')")
    else
        summary+=("| $flush | a side failed: see $out | | | | | | | | |")
    fi
    unset sum_tps sum_p99 sum_cpu n
done
{
    echo
    echo "Means over the rounds (ratio = coremq / peer):"
    echo
    echo "| flush | coremq msgs/s | peer msgs/s | TPS ratio | coremq p99 ms | peer p99 ms | p99 ratio | coremq CPU s/M | peer CPU s/M | CPU ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${summary[@]}"
} | tee -a "$report" >&2
echo "wrote $report and $out/" >&2
