#!/usr/bin/env bash
# A/B of broker builds: each run starts a fresh `coremq standalone` from one of the given
# binaries, in alternation within each round (A, B, A, B, ...), while the generator and the
# consumer stay one fixed binary, so only the broker differs. On a shared, noisy host
# compare within a round, never across rounds.
#
#   bench/builds.sh stock=/tmp/coremq-a patched=/tmp/coremq-b
#   RATES="max 5000 15000 idle" ROUNDS=3 GEN=/tmp/coremq-a bench/builds.sh a=BIN b=BIN
#
# RATES: "max" is an unpaced `bench producer -s 128 -w 64` (no consumer); a number R is
# `--rate R --e2e` with a `bench consumer` draining, which adds the end-to-end latency.
# Broker CPU is its /proc stat delta over the producer run (warm-up included) per message
# sent; generator CPU is its `time`. Idle is the host's idle + iowait share meanwhile.
# "idle" sends nothing after the warm-up: the broker's CPU over IDLE_S seconds, in cores.
# Everything runs on loopback; every run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
DURATION="${DURATION:-6}"
ROUNDS="${ROUNDS:-3}"
RATES="${RATES:-max}"
SHARDS="${SHARDS:-2}"
IDLE_S="${IDLE_S:-20}"
IO_MEMORY="${IO_MEMORY:-16777216}"
# Seconds the consumer gets to join and rebalance before a producer starts.
JOIN_S=3

usage() {
    echo "usage: [RATES=\"max 5000\"] [ROUNDS=3] [GEN=BIN] $0 LABEL=BIN LABEL=BIN..." >&2
    exit 2
}
[ $# -ge 1 ] || usage
for build in "$@"; do
    case "$build" in
        *=*) [ -x "${build#*=}" ] || { echo "not an executable: ${build#*=}" >&2; exit 2; } ;;
        *) usage ;;
    esac
done
first="$1"
gen="${GEN:-${first#*=}}"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# The host's busy and idle jiffies so far: "busy idle".
host_jiffies() {
    awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat
}

work=""
trap '[ -z "$work" ] || stop_coremq "$work"' EXIT
for round in $(seq "$ROUNDS"); do
    for rate in $RATES; do
        for build in "$@"; do
            label="${build%%=*}"
            bin="${build#*=}"
            work="$(mktemp -d)"
            start_coremq "$work" ASYNC_FLUSH "$SHARDS" "$IO_MEMORY" > /dev/null
            ns="127.0.0.1:$NS_PORT"
            # Creates the topic and warms the broker before anything is measured.
            "$gen" bench producer -n "$ns" -t BenchmarkTest -s 128 -w 64 --duration 2 > /dev/null
            if [ "$rate" = idle ]; then
                # Let the warm-up's flushes and checkpoints settle first.
                sleep 2
                b0="$(proc_cpu_s "$BROKER_PID")"
                sleep "$IDLE_S"
                b1="$(proc_cpu_s "$BROKER_PID")"
                printf "round %s %6s %-10s broker %.3f cores over %s s\n" "$round" "$rate" "$label" \
                    "$(echo "($b1 - $b0) / $IDLE_S" | bc -l)" "$IDLE_S"
                stop_coremq "$work"
                work=""
                continue
            fi
            paced=()
            cpid=""
            if [ "$rate" != max ]; then
                paced=(--rate "$rate" --e2e)
                "$gen" bench consumer -n "$ns" -t BenchmarkTest -g builds --warmup 4 \
                    --duration $((DURATION + JOIN_S - 1)) --json "$work/c.json" > "$work/c.log" &
                cpid=$!
                sleep "$JOIN_S"
            fi
            b0="$(proc_cpu_s "$BROKER_PID")"
            read -r busy0 idle0 < <(host_jiffies)
            /usr/bin/time -f "%U %S" -o "$work/gen.time" "$gen" bench producer -n "$ns" \
                -t BenchmarkTest -s 128 -w 64 --warmup 1 --duration "$DURATION" "${paced[@]}" \
                --json "$work/p.json" > "$work/p.log"
            b1="$(proc_cpu_s "$BROKER_PID")"
            read -r busy1 idle1 < <(host_jiffies)
            e2e="-"
            if [ -n "$cpid" ]; then
                wait "$cpid"
                e2e="$(json_block_field "$work/c.json" e2e_latency_ms p50)/$(json_block_field "$work/c.json" e2e_latency_ms p99)/$(json_block_field "$work/c.json" e2e_latency_ms 'p99.9')"
            fi
            tps="$(json_field "$work/p.json" tps)"
            # Messages over the whole producer run: its warm-up second included.
            sent="$(echo "$tps * ($DURATION + 1)" | bc -l)"
            printf "round %s %6s %-10s %8.0f msgs/s  send p99 %6s ms | e2e p50/p99/p99.9 %s ms | broker %6.1f us/msg  generator %5.1f | host idle %3.0f %%\n" \
                "$round" "$rate" "$label" "$tps" "$(json_block_field "$work/p.json" latency_ms p99)" "$e2e" \
                "$(echo "($b1 - $b0) * 1000000 / $sent" | bc -l)" \
                "$(echo "$(awk '{ print $1 + $2 }' "$work/gen.time") * 1000000 / $sent" | bc -l)" \
                "$(echo "100 * ($idle1 - $idle0) / ($busy1 - $busy0 + $idle1 - $idle0)" | bc -l)"
            stop_coremq "$work"
            work=""
        done
    done
done
