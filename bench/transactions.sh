#!/usr/bin/env bash
# Transactional sends against plain sends (#18): `coremq bench producer -s 128 -w 64`
# with and without --transaction (half message, local transaction committing at once,
# END_TRANSACTION), alternating ROUNDS times against one fresh standalone broker
# (ASYNC_FLUSH, SHARDS shards). Writes a markdown report with the commands and each
# setup's median to bench/results/.
#
#   bench/transactions.sh                      # 10 s per run, 3 rounds
#   DURATION=5 ROUNDS=1 bench/transactions.sh  # a quick pass
#
# Everything runs on loopback; every run is bounded by DURATION.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-3}"
SHARDS="${SHARDS:-2}"
THREADS="${THREADS:-64}"

cargo build --release --manifest-path "$repo/Cargo.toml" >&2
bin="$repo/target/release/coremq"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

work="$(mktemp -d)"
trap 'stop_coremq "$work"' EXIT
start_coremq "$work" ASYNC_FLUSH "$SHARDS" 1048576
"$bin" admin updateTopic -n "127.0.0.1:$NS_PORT" -b "127.0.0.1:$BROKER_PORT" -t TxBench -r 8 -w 8 > /dev/null

out="$repo/bench/results/$(date -u +%Y-%m-%d)-vm-transactions.md"
declare -A tps
for round in $(seq "$ROUNDS"); do
    for mode in plain transaction; do
        flag=()
        [ "$mode" = transaction ] && flag=(--transaction)
        json="$work/$mode-$round.json"
        "$bin" bench producer -n "127.0.0.1:$NS_PORT" -t TxBench -s 128 -w "$THREADS" \
            --duration "$DURATION" --warmup "$WARMUP" "${flag[@]}" --json "$json" > "$work/$mode-$round.out"
        t="$(json_field "$json" tps)"
        p99="$(sed -n '/"latency_ms"/,/}/s/^ *"p99": *\([0-9.]*\),\{0,1\}$/\1/p' "$json" | head -n 1)"
        tps[$mode]="${tps[$mode]:-} $t"
        printf 'round %s %-11s %10.0f msgs/s  p99 %s ms\n' "$round" "$mode" "$t" "$p99" | tee -a "$work/rounds.txt"
        [ "$mode" = plain ] && last_plain="$t"
    done
    # The two runs of a round are adjacent in time: their ratio suffers least from noise.
    ratios="${ratios:-} $(awk -v a="$t" -v b="$last_plain" 'BEGIN { printf "%.3f", a / b }')"
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
plain="$(echo "${tps[plain]}" | median)"
txn="$(echo "${tps[transaction]}" | median)"
ratio="$(awk -v a="$txn" -v b="$plain" 'BEGIN { printf "%.2f", a / b }')"
round_ratio="$(echo "$ratios" | median)"
{
    echo "# Transactional sends vs plain sends ($(date -u +%Y-%m-%d), this 2-core VM)"
    echo
    echo "Command: \`DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS SHARDS=$SHARDS THREADS=$THREADS bench/transactions.sh\`"
    echo "(each run: \`coremq bench producer -t TxBench -s 128 -w $THREADS --duration $DURATION --warmup $WARMUP [--transaction]\`"
    echo "against one \`coremq standalone\`, ASYNC_FLUSH, $SHARDS shards, topic of 8 queues; generator and broker share the host)."
    echo
    echo '```'
    cat "$work/rounds.txt"
    echo '```'
    echo
    echo "Medians: plain $plain msgs/s, transactional (send + commit) $txn msgs/s: ratio $ratio."
    echo "Per round (adjacent runs) transactional / plain:$ratios; median **$round_ratio**."
    echo "A transactional send is two broker requests (the half message, then END_TRANSACTION oneway)"
    echo "and three records (half, committed message, op record)."
} > "$out"
echo "wrote $out" >&2
