#!/usr/bin/env bash
# Kernel and limits settings for a coremq host: RocketMQ's os.sh where it still applies,
# revised for a direct-I/O, io_uring broker. The page-cache knobs RocketMQ tunes
# (dirty ratios, drop_caches) do not matter to coremq, which writes with O_DIRECT; what
# does: locked memory for io_uring buffers, file descriptors, listen backlogs, the NVMe
# scheduler, transparent huge pages and swapping.
#
#   ./os.sh --check     print each setting, current and recommended; exit 1 if any is off
#                       (no root needed)
#   ./os.sh --dry-run   print what applying would change
#   sudo ./os.sh        apply: write /etc/sysctl.d/90-coremq.conf and
#                       /etc/security/limits.d/90-coremq.conf (idempotent), load the
#                       sysctls, set block-device schedulers and THP; report each change
#
# CPU isolation and IRQ placement are printed as hints: they depend on the host's
# profile (see tuning/README.md) and need a reboot or an operator's choice.
set -euo pipefail

SYSCTL_FILE="${COREMQ_SYSCTL_FILE:-/etc/sysctl.d/90-coremq.conf}"
LIMITS_FILE="${COREMQ_LIMITS_FILE:-/etc/security/limits.d/90-coremq.conf}"

# key=value: why
SYSCTLS=(
    "vm.swappiness=1: keep the broker's memory out of swap"
    "vm.zone_reclaim_mode=0: reclaim from any NUMA node instead of stalling"
    "vm.max_map_count=655360: headroom for many segments and queues"
    "vm.overcommit_memory=1: as RocketMQ; large io_uring arenas are reserved up front"
    "net.core.somaxconn=4096: listen backlog for bursts of client connections"
    "net.ipv4.tcp_max_syn_backlog=8192: SYN backlog for the same"
    "net.core.netdev_max_backlog=16384: packets queued per core before the stack drops"
    "fs.file-max=2097152: system-wide descriptors (connections, segments)"
)
NOFILE=655350
THP_WANTED="madvise"

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

mode=apply
case "${1:-}" in
    --check) mode=check ;;
    --dry-run) mode=dry-run ;;
    "") mode=apply ;;
    -h|--help) usage ;;
    *) echo "os.sh: unknown option: $1" >&2; usage ;;
esac

if [ "$mode" = apply ] && [ "$(id -u)" -ne 0 ]; then
    echo "os.sh: applying needs root (sudo ./os.sh); use --check or --dry-run to look first" >&2
    exit 2
fi

off=0
changed=0
row() { printf '%-36s %-22s %-22s %s\n' "$1" "$2" "$3" "$4"; }

sysctl_now() {
    local path="/proc/sys/${1//./\/}"
    if [ -r "$path" ]; then tr -s '\t' ' ' < "$path"; else echo "absent"; fi
}

# Numbers compare as numbers where more is fine (limits); others must match.
at_least_keys=" vm.max_map_count net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.core.netdev_max_backlog fs.file-max "
ok_value() {
    local key="$1" now="$2" want="$3"
    if [[ "$at_least_keys" == *" $key "* ]] && [[ "$now" =~ ^[0-9]+$ ]]; then
        [ "$now" -ge "$want" ]
    else
        [ "$now" = "$want" ]
    fi
}

[ "$mode" = check ] && row SETTING CURRENT RECOMMENDED STATUS

sysctl_lines=""
for entry in "${SYSCTLS[@]}"; do
    kv="${entry%%:*}"
    key="${kv%%=*}"
    want="${kv#*=}"
    now="$(sysctl_now "$key")"
    sysctl_lines+="$key = $want"$'\n'
    if ok_value "$key" "$now" "$want"; then
        [ "$mode" = check ] && row "$key" "$now" "$want" ok
    else
        off=1
        case "$mode" in
            check) row "$key" "$now" "$want" "OFF  (${entry#*: })" ;;
            dry-run) echo "would set $key: $now -> $want" ;;
            apply) changed=1; echo "set $key: $now -> $want" ;;
        esac
    fi
done

# Limits of this shell stand in for the service's (systemd units set their own:
# tuning/systemd/).
nofile_now="$(ulimit -Hn)"
memlock_now="$(ulimit -Hl)"
limits_body="# coremq: descriptors for connections and segments; locked memory for io_uring
* soft nofile $NOFILE
* hard nofile $NOFILE
* soft memlock unlimited
* hard memlock unlimited
root soft nofile $NOFILE
root hard nofile $NOFILE
root soft memlock unlimited
root hard memlock unlimited
"
for pair in "nofile:$nofile_now:$NOFILE" "memlock:$memlock_now:unlimited"; do
    IFS=: read -r name now want <<< "$pair"
    good=0
    if [ "$now" = unlimited ]; then good=1
    elif [ "$want" != unlimited ] && [ "$now" -ge "$want" ]; then good=1
    fi
    if [ "$good" = 1 ]; then
        [ "$mode" = check ] && row "limit $name (hard)" "$now" "$want" ok
    else
        off=1
        case "$mode" in
            check) row "limit $name (hard)" "$now" "$want" "OFF  (new sessions, after applying)" ;;
            dry-run) echo "would write $LIMITS_FILE: $name $now -> $want" ;;
            apply) : ;;
        esac
    fi
done

# Transparent huge pages: madvise (no surprise compaction stalls; who asks still gets them).
thp="/sys/kernel/mm/transparent_hugepage/enabled"
if [ -r "$thp" ]; then
    thp_now="$(sed 's/.*\[\(.*\)\].*/\1/' "$thp")"
    if [ "$thp_now" = "$THP_WANTED" ] || [ "$thp_now" = never ]; then
        [ "$mode" = check ] && row "transparent_hugepage" "$thp_now" "$THP_WANTED" ok
    else
        off=1
        case "$mode" in
            check) row "transparent_hugepage" "$thp_now" "$THP_WANTED" "OFF  (compaction stalls)" ;;
            dry-run) echo "would set transparent_hugepage: $thp_now -> $THP_WANTED" ;;
            apply)
                if echo "$THP_WANTED" > "$thp" 2>/dev/null; then
                    changed=1; echo "set transparent_hugepage: $thp_now -> $THP_WANTED"
                else
                    echo "cannot set transparent_hugepage here (container?)" >&2
                fi ;;
        esac
    fi
fi

# NVMe and other multi-queue SSDs: no I/O scheduler (the device orders its own queues).
for dev in /sys/block/nvme*n* /sys/block/vd* /sys/block/xvd*; do
    [ -w "$dev/queue/scheduler" ] || [ -r "$dev/queue/scheduler" ] || continue
    name="$(basename "$dev")"
    [ "$(cat "$dev/queue/rotational" 2>/dev/null || echo 0)" = 0 ] || continue
    sched_now="$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$dev/queue/scheduler")"
    [ -n "$sched_now" ] || continue
    if [ "$sched_now" = none ]; then
        [ "$mode" = check ] && row "scheduler $name" "$sched_now" none ok
    else
        off=1
        case "$mode" in
            check) row "scheduler $name" "$sched_now" none "OFF  (adds latency to direct I/O)" ;;
            dry-run) echo "would set the scheduler of $name: $sched_now -> none" ;;
            apply)
                if echo none > "$dev/queue/scheduler" 2>/dev/null; then
                    changed=1; echo "set the scheduler of $name: $sched_now -> none"
                else
                    echo "cannot set the scheduler of $name" >&2
                fi ;;
        esac
    fi
done

if [ "$mode" = apply ]; then
    want_sysctl="# coremq (os.sh): kernel settings for a direct-I/O, io_uring broker
$sysctl_lines"
    if [ "$(cat "$SYSCTL_FILE" 2>/dev/null || true)" != "${want_sysctl%$'\n'}" ]; then
        mkdir -p "$(dirname "$SYSCTL_FILE")"
        printf '%s' "$want_sysctl" > "$SYSCTL_FILE"
        changed=1; echo "wrote $SYSCTL_FILE"
    fi
    if [ "$(cat "$LIMITS_FILE" 2>/dev/null || true)" != "${limits_body%$'\n'}" ]; then
        mkdir -p "$(dirname "$LIMITS_FILE")"
        printf '%s' "$limits_body" > "$LIMITS_FILE"
        changed=1; echo "wrote $LIMITS_FILE (applies to new login sessions)"
    fi
    if command -v sysctl > /dev/null; then
        sysctl -q -p "$SYSCTL_FILE" || echo "some sysctls could not be set here (container?)" >&2
    fi
    [ "$changed" = 1 ] || echo "nothing to change"
fi

if [ "$mode" != apply ]; then
    echo
    echo "hints (not applied; see tuning/README.md):"
    echo "  - give shards whole cores: shardCpus=... in the broker config, and keep them out of"
    echo "    irqbalance (IRQBALANCE_BANNED_CPUS) or isolate them (isolcpus=, nohz_full=)"
    echo "  - pin NIC queue IRQs to the cores not running shards"
fi

if [ "$mode" = check ] && [ "$off" = 1 ]; then
    exit 1
fi
exit 0
