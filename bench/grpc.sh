#!/usr/bin/env bash
# RocketMQ 5 gRPC against remoting on one broker (issue #37's benchmarks):
#   1. sends at -s 128 -w 64: `coremq bench producer` (remoting) and grpc_bench (the
#      official Rust SDK over gRPC), alternating within each round, broker CPU per message;
#   2. receive + ack throughput of a gRPC SimpleConsumer over what the sends left;
#   3. TIMERS timer messages scheduled 30 minutes ahead (spread over 10 minutes), the
#      broker's RSS before and after, then probe timers due 5 s ahead while they wait:
#      lateness past the due time, and RSS again.
#
#   cargo build --release --workspace && bench/grpc.sh
#   ROUNDS=3 DURATION=10 TIMERS=1000000 PROBES=200 bench/grpc.sh
#
# Both generators run on this host beside the broker, so the ratio is of what an
# application sees with each client, SDK costs included. Everything runs on loopback and
# every step is bounded by a count or DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bin="${COREMQ_BIN:-$here/../target/release/coremq}"
gen="${GRPC_BENCH_BIN:-$here/../target/release/grpc_bench}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
TIMERS="${TIMERS:-1000000}"
PROBES="${PROBES:-200}"
SHARDS="${SHARDS:-2}"
IO_MEMORY="${IO_MEMORY:-16777216}"
for b in "$bin" "$gen"; do
    [ -x "$b" ] || { echo "not built: $b (cargo build --release --workspace)" >&2; exit 2; }
done
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

work="$(mktemp -d)"
trap 'stop_coremq "$work"' EXIT
grpc_port="$(free_port)"
EXTRA_CONF="grpcServerPort=$grpc_port" start_coremq "$work" ASYNC_FLUSH "$SHARDS" "$IO_MEMORY" > /dev/null
ns="127.0.0.1:$NS_PORT"
ep="127.0.0.1:$grpc_port"
for t in BenchmarkTest GrpcBench GrpcTimers; do
    "$bin" admin updateTopic -n "$ns" -b "127.0.0.1:$BROKER_PORT" -t "$t" -r 8 -w 8 > /dev/null
done
echo "coremq $("$bin" --version | awk '{ print $2 }'), $SHARDS shards, ASYNC_FLUSH, $(nproc) cores; rounds of ${DURATION}s"

# The SDK logs to stderr: kept in the work directory.
sdk() { "$gen" "$@" 2>> "$work/sdk.log"; }
# The first number named $1 in grpc_bench's one-line JSON on stdin.
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }

# Warm both paths before anything is measured.
"$bin" bench producer -n "$ns" -t BenchmarkTest -s 128 -w 64 --duration 2 > /dev/null
sdk -e "$ep" -t GrpcBench send -w 64 -s 128 --duration 2 > /dev/null

for round in $(seq "$ROUNDS"); do
    b0="$(proc_cpu_s "$BROKER_PID")"
    /usr/bin/time -f "%U %S" -o "$work/gen.time" "$bin" bench producer -n "$ns" -t BenchmarkTest \
        -s 128 -w 64 --warmup 1 --duration "$DURATION" --json "$work/r.json" > /dev/null
    b1="$(proc_cpu_s "$BROKER_PID")"
    rtps="$(json_field "$work/r.json" tps)"
    rsent="$(echo "$rtps * ($DURATION + 1)" | bc -l)"
    printf "round %s remoting %8.0f msgs/s  p50/p99 %s/%s ms  broker %5.1f us/msg  generator %5.1f us/msg\n" \
        "$round" "$rtps" "$(json_block_field "$work/r.json" latency_ms p50)" \
        "$(json_block_field "$work/r.json" latency_ms p99)" \
        "$(echo "($b1 - $b0) * 1000000 / $rsent" | bc -l)" \
        "$(echo "$(awk '{ print $1 + $2 }' "$work/gen.time") * 1000000 / $rsent" | bc -l)"

    b0="$(proc_cpu_s "$BROKER_PID")"
    out="$(sdk -e "$ep" -t GrpcBench send -w 64 -s 128 --duration "$DURATION")"
    b1="$(proc_cpu_s "$BROKER_PID")"
    gtps="$(field tps <<< "$out")"
    gsent="$(field sent <<< "$out")"
    printf "round %s gRPC     %8.0f msgs/s  p50/p99 %s/%s ms  broker %5.1f us/msg  generator %5.1f us/msg  errors %s  ratio %.2f\n" \
        "$round" "$gtps" "$(field p50 <<< "$out")" \
        "$(field p99 <<< "$out")" \
        "$(echo "($b1 - $b0) * 1000000 / ($gsent * ($DURATION + 1) / $DURATION)" | bc -l)" \
        "$(field generator_us_per_msg <<< "$out")" \
        "$(field errors <<< "$out")" \
        "$(echo "$gtps / $rtps" | bc -l)"
done

# Receive + ack of what the gRPC sends left (bounded by count and time).
b0="$(proc_cpu_s "$BROKER_PID")"
out="$(sdk -e "$ep" -t GrpcBench receive -g GrpcBenchGroup -w 8 --count 200000 --duration 60)"
b1="$(proc_cpu_s "$BROKER_PID")"
acked="$(field acked <<< "$out")"
printf "receive+ack (8 loops, batch 32): %s  broker %.1f us/msg\n" "$out" \
    "$(echo "($b1 - $b0) * 1000000 / $acked" | bc -l)"

# Timers: many waiting, a few due soon.
echo "broker RSS before timers: $(proc_rss_mib "$BROKER_PID") MiB"
sdk -e "$ep" -t GrpcTimers timers -w 64 --count "$TIMERS" --due-in-s 1800 --span-s 600
echo "broker RSS with $TIMERS timers waiting: $(proc_rss_mib "$BROKER_PID") MiB"
sdk -e "$ep" -t GrpcTimers probe -g GrpcProbeGroup --count "$PROBES" --lead-s 5
echo "broker RSS after the probes: $(proc_rss_mib "$BROKER_PID") MiB"
du -sh "$work/store" | awk '{ print "store on disk: " $1 }'
