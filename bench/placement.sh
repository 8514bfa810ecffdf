#!/usr/bin/env bash
# Where the generator runs relative to the broker's shard: a 1-shard `coremq standalone`
# pinned to CPU 0 (shardCpus=0), and `bench producer -s 128 -w 64` pinned with taskset to
# the same CPU, to CPU 1, or left to the scheduler, alternating round by round (a fresh
# standalone per run). On a VM, every wakeup of a sleeping vCPU is an exit to the
# hypervisor; this measures what that costs a closed-loop producer. Prints one line per
# run:
#   round placement msgs/s p50-ms p99-ms broker-CPU-s-per-million generator-CPU-s-per-million
#
#   bench/placement.sh               # 4 rounds, 5 s measured per run
#   ROUNDS=2 DURATION=3 bench/placement.sh
#
# Needs 2 CPUs and taskset (util-linux). Loopback only; every run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
ROUNDS="${ROUNDS:-4}"
DURATION="${DURATION:-5}"
IO_MEMORY="${IO_MEMORY:-16777216}"

if (( $(nproc) < 2 )); then
    echo "placement.sh needs 2 CPUs (this host has $(nproc))" >&2
    exit 1
fi
cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

run() {
    local where="$1" dir c0 c1 out n pin=()
    case "$where" in
        same) pin=(taskset -c 0) ;;
        other) pin=(taskset -c 1) ;;
        free) pin=() ;;
    esac
    dir="$(mktemp -d)"
    EXTRA_CONF="shardCpus=0" start_coremq "$dir" ASYNC_FLUSH 1 "$IO_MEMORY"
    "$bin" bench producer -n "127.0.0.1:$NS_PORT" -s 128 -w 64 --duration 2 > /dev/null 2>&1
    c0="$(proc_cpu_s "$BROKER_PID")"
    out="$("${pin[@]}" "$bin" bench producer -n "127.0.0.1:$NS_PORT" -s 128 -w 64 \
        --duration "$DURATION" 2>&1)"
    c1="$(proc_cpu_s "$BROKER_PID")"
    n="$(sed -n 's/Summary: \([0-9]*\) messages.*/\1/p' <<< "$out")"
    printf '%s %s %s %s %s\n' "$where" \
        "$(sed -n 's/.*s: \([0-9]*\) msgs\/s.*/\1/p' <<< "$out")" \
        "$(sed -n 's/Send latency (ms): p50 \([0-9.]*\) .*p99 \([0-9.]*\) .*/\1 \2/p' <<< "$out")" \
        "$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n * 1e6 }')" \
        "$(awk -v n="$n" '/^Generator CPU/ { gsub(",", ""); printf "%.1f", ($4 + $7) / n * 1e6 }' \
            <<< "$out")"
    kill "$BROKER_PID"
    wait "$BROKER_PID" 2> /dev/null || true
    rm -rf "$dir"
}

for r in $(seq "$ROUNDS"); do
    for where in same other free; do
        printf '%s ' "$r"
        run "$where"
    done
done
