#!/usr/bin/env bash
# Sustained REGISTER-with-digest-auth rate: okcc-server vs Kamailio.
#
# Drives both servers with sipp (one after the other, in the same run) on
# loopback inside a private network namespace (unshare -n; sipp runs in the
# same namespace), and prints for each: successful registrations per second,
# CPU-seconds per 1,000 registrations (utime+stime of the server's processes
# from /proc, before/after), and the okcc/Kamailio ratios.
# See benches/README.md for what is configured and the figures measured.
#
# Usage: benches/sip_register_vs_kamailio.sh [--no-build]
# Environment (defaults in brackets):
#   DURATION [20]   seconds of load per server
#   RATE [20000]    sipp call rate (registrations/s attempted)
#   LIMIT [200]     most registrations in flight (sipp -l)
#   USERS [9]       extensions 1000..1000+USERS-1, one strong password each
#                   (the load generator is trusted, so any number works; 9
#                   keeps the figures comparable with the first runs)
#   KAM_CHILDREN [4] Kamailio UDP worker processes
#   OKCC_WORKERS [1] okcc-server's worker_threads (0: one per core); sipp
#                   shares the two cores, and one thread keeps rsipstack's
#                   task hand-offs on it (see benches/README.md)
#   OKCC_BIN [target/release/okcc-server]
#   OKCC_PERF [unset] a file name: record a call-graph profile of
#                   okcc-server during its load (perf record -g; needs
#                   linux-perf), read it with `perf report -i FILE`;
#   OKCC_PERF_OPTS [-F 499 -g] its sampling options (Rust release builds
#                   keep no frame pointers: `--call-graph dwarf -F 199`
#                   gives whole call chains)
# Needs: root (or unshare -rn), ip, sipp (Debian sip-tester), kamailio
# (+ kamailio-sqlite-modules), sqlite3, md5sum.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

if [[ "${1:-}" != "--in-netns" ]]; then
    if [[ "${1:-}" != "--no-build" ]]; then
        (cd "$root" && cargo build --release -p okcc-server)
    fi
    for tool in sipp kamailio sqlite3 md5sum ip unshare; do
        command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
    done
    if [[ $(id -u) -eq 0 ]]; then
        exec unshare -n "$0" --in-netns
    else
        exec unshare -rn "$0" --in-netns
    fi
fi

ip link set lo up

DURATION=${DURATION:-20}
RATE=${RATE:-20000}
LIMIT=${LIMIT:-200}
USERS=${USERS:-9}
KAM_CHILDREN=${KAM_CHILDREN:-4}
OKCC_WORKERS=${OKCC_WORKERS:-1}
OKCC_BIN=${OKCC_BIN:-$root/target/release/okcc-server}
OKCC_PORT=5060
KAM_PORT=5070
SIPP_PORT=5090
REALM=okcc

[[ -x "$OKCC_BIN" ]] || { echo "no okcc-server binary at $OKCC_BIN" >&2; exit 2; }

work=$(mktemp -d /tmp/okcc-vs-kam.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# --- users: strong random passwords, one sipp injection line each --------
printf 'SEQUENTIAL\n' >"$work/users.csv"
: >"$work/users.txt"
for ((i = 0; i < USERS; i++)); do
    user=$((1000 + i))
    # 64 random bits as hex pairs between punctuation: strong, and no run of
    # 3 sequential characters for the password policy to refuse
    pass="Kq#$(od -An -N8 -tx1 /dev/urandom | sed -e 's/^ //' -e 's/ /%/g' | tr -d '\n')!Zr"
    # sipp parses keywords inside injected fields: the whole authentication
    # keyword is field 1 (a nested [field] inside it is not supported)
    printf '%s;[authentication username=%s password=%s]\n' "$user" "$user" "$pass" >>"$work/users.csv"
    printf '%s %s\n' "$user" "$pass" >>"$work/users.txt"
done

# --- sipp scenario: REGISTER, 401, REGISTER with MD5 digest, 200 ----------
cat >"$work/register.xml" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register with digest, user from injection file">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]:[remote_port]>;tag=[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 600
      User-Agent: sipp-okcc-bench
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true" />
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]:[remote_port]>;tag=[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      [field1]
      Max-Forwards: 70
      Expires: 600
      User-Agent: sipp-okcc-bench
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
</scenario>
XML

# utime+stime in clock ticks of a process and all its descendants.
cpu_ticks() {
    local total=0 p stat rest
    local -a queue=("$1") f
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -ra f <<<"$rest"
        # f[0] is field 3 (state): utime is field 14, stime field 15
        total=$((total + f[11] + f[12]))
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
            queue+=("$c")
        done
    done
    echo "$total"
}
HZ=$(getconf CLK_TCK)

# One sipp registration, retried until the server answers (start-up).
wait_ready() {
    local port=$1 i
    for ((i = 0; i < 100; i++)); do
        if sipp -sf "$work/register.xml" -inf "$work/users.csv" -i 127.0.0.1 \
            -p "$SIPP_PORT" -m 1 -timeout 2s -timeout_error -nostdin \
            "127.0.0.1:$port" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    echo "server on port $port never answered a registration" >&2
    return 1
}

# measure NAME PORT PID: sipp load for DURATION s; sets globals.
measure() {
    local name=$1 port=$2 pid=$3 t0 t1 c0 c1 s0 s1 stats ok failed perfpid=
    if [[ "$name" == okcc && -n "${OKCC_PERF:-}" ]]; then
        # shellcheck disable=SC2086 # word splitting of the options is meant
        perf record -q ${OKCC_PERF_OPTS:--F 499 -g} -p "$pid" -o "$OKCC_PERF" -- sleep "$DURATION" \
            >"$work/perf.out" 2>&1 &
        perfpid=$!
    fi
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    sipp -sf "$work/register.xml" -inf "$work/users.csv" -i 127.0.0.1 \
        -p "$SIPP_PORT" -r "$RATE" -l "$LIMIT" -timeout "${DURATION}s" \
        -nostdin -trace_stat -stf "$work/$name.stat.csv" -fd 1 \
        "127.0.0.1:$port" >"$work/$name.sipp.out" 2>&1 &
    local spid=$! v
    # sipp's own CPU time over its whole run (its last sample before exit)
    s0=0
    s1=0
    while kill -0 "$spid" 2>/dev/null; do
        v=$(cpu_ticks "$spid")
        ((v > 0)) && s1=$v
        sleep 0.5
    done
    wait "$spid" || true
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "$pid")
    if [[ -n "$perfpid" ]]; then
        wait "$perfpid" || cat "$work/perf.out" >&2
    fi
    # last stats line: cumulative SuccessfulCall(C) and FailedCall(C)
    stats=$(tail -n 1 "$work/$name.stat.csv")
    ok=$(awk -F';' -v line="$stats" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "SuccessfulCall(C)") c = i; split(line, v, ";"); print v[c]; exit }' "$work/$name.stat.csv")
    failed=$(awk -F';' -v line="$stats" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "FailedCall(C)") c = i; split(line, v, ";"); print v[c]; exit }' "$work/$name.stat.csv")
    if [[ -z "$ok" || -z "$failed" ]]; then
        echo "$name: no sipp statistics" >&2
        cat "$work/$name.sipp.out" >&2
        exit 1
    fi
    local secs cpu
    secs=$(echo "$t1 - $t0" | bc -l)
    cpu=$(echo "($c1 - $c0) / $HZ" | bc -l)
    eval "${name}_ok=$ok ${name}_failed=$failed ${name}_secs=$secs ${name}_cpu=$cpu"
    eval "${name}_rate=$(echo "$ok / $secs" | bc -l)"
    if ((ok > 0)); then
        eval "${name}_cpu_per_k=$(echo "$cpu * 1000 / $ok" | bc -l)"
    else
        eval "${name}_cpu_per_k=0"
    fi
    eval "${name}_sipp_cpu=$(echo "($s1 - $s0) / $HZ" | bc -l)"
}

# --- okcc-server -----------------------------------------------------------
okdir="$work/okcc"
mkdir -p "$okdir"
# sipp answers only the first challenge and knows MD5 only. All sipp traffic
# comes from 127.0.0.1: trusted, so the per-source flood guard (30 requests
# per 2 s) does not ban the load generator (Kamailio's pike is skipped for it
# alike, through permissions).
cat >"$okdir/okcc.toml" <<EOF
realm = "$REALM"
digest_algorithms = ["MD5"]
log_format = "text"
worker_threads = $OKCC_WORKERS
EOF
while read -r user pass; do
    printf '%s\n' "$pass" | "$OKCC_BIN" extension add "$user" --password-stdin \
        --config "$okdir/okcc.toml" --data-dir "$okdir" >/dev/null
done <"$work/users.txt"
printf 'trust 127.0.0.1\n' >"$okdir/access.rules"
RUST_LOG=warn "$OKCC_BIN" serve --config "$okdir/okcc.toml" --data-dir "$okdir" \
    --sip-udp "127.0.0.1:$OKCC_PORT" --sip-tcp off --http off \
    --rules "$okdir/access.rules" >"$work/okcc.log" 2>&1 &
okpid=$!
pids+=("$okpid")
wait_ready "$OKCC_PORT" || { cat "$work/okcc.log" >&2; exit 1; }
measure okcc "$OKCC_PORT" "$okpid"
kill "$okpid"
wait "$okpid" 2>/dev/null || true

# --- Kamailio --------------------------------------------------------------
kdir="$work/kamailio"
mkdir -p "$kdir"
db="$kdir/kamailio.sqlite"
{
    cat /usr/share/kamailio/db_sqlite/standard-create.sql
    cat /usr/share/kamailio/db_sqlite/auth_db-create.sql
    cat /usr/share/kamailio/db_sqlite/permissions-create.sql
    echo "INSERT INTO address (grp, ip_addr, mask, port) VALUES (1, '127.0.0.1', 32, 0);"
    while read -r user pass; do
        ha1=$(printf '%s:%s:%s' "$user" "$REALM" "$pass" | md5sum | cut -d' ' -f1)
        echo "INSERT INTO subscriber (username, domain, ha1) VALUES ('$user', '127.0.0.1', '$ha1');"
    done <"$work/users.txt"
} | sqlite3 "$db"
mpath=/usr/lib/x86_64-linux-gnu/kamailio/modules
[[ -d "$mpath" ]] || mpath=$(dirname "$(find /usr/lib* -name registrar.so -path '*kamailio*' | head -n 1)")
sed -e "s|@LISTEN@|127.0.0.1:$KAM_PORT|" -e "s|@DB@|$db|g" \
    -e "s|@CHILDREN@|$KAM_CHILDREN|" -e "s|@MPATH@|$mpath|" \
    "$here/kamailio/kamailio.cfg" >"$kdir/kamailio.cfg"
kamailio -c -f "$kdir/kamailio.cfg" >"$work/kamailio.check" 2>&1 ||
    { cat "$work/kamailio.check" >&2; exit 1; }
kamailio -DD -E -f "$kdir/kamailio.cfg" -P "$kdir/kamailio.pid" -w "$kdir" \
    -m 256 -M 16 >"$work/kamailio.log" 2>&1 &
kampid=$!
pids+=("$kampid")
wait_ready "$KAM_PORT" || { cat "$work/kamailio.log" >&2; exit 1; }
measure kam "$KAM_PORT" "$kampid"
kill "$kampid"
wait "$kampid" 2>/dev/null || true

# --- report ----------------------------------------------------------------
load=$(cut -d' ' -f1-3 /proc/loadavg)
printf '\nREGISTER with MD5 digest auth, sipp -r %s -l %s, %s s per server, %s users, %s cores, load avg %s\n' \
    "$RATE" "$LIMIT" "$DURATION" "$USERS" "$(nproc)" "$load"
printf 'okcc-server worker_threads %s, Kamailio children %s\n' "$OKCC_WORKERS" "$KAM_CHILDREN"
printf '%-12s %10s %8s %8s %12s %14s %12s\n' server ok failed secs "reg/s" "cpu-s/1000reg" "sipp cpu-s"
printf '%-12s %10d %8d %8.1f %12.0f %14.4f %12.1f\n' okcc-server "$okcc_ok" "$okcc_failed" \
    "$okcc_secs" "$okcc_rate" "$okcc_cpu_per_k" "$okcc_sipp_cpu"
printf '%-12s %10d %8d %8.1f %12.0f %14.4f %12.1f\n' kamailio "$kam_ok" "$kam_failed" \
    "$kam_secs" "$kam_rate" "$kam_cpu_per_k" "$kam_sipp_cpu"
if [[ "$kam_ok" -gt 0 && "$okcc_ok" -gt 0 ]]; then
    printf 'ratio okcc/kamailio: rate %.2f, CPU-seconds per 1000 registrations %.2f\n' \
        "$(echo "$okcc_rate / $kam_rate" | bc -l)" \
        "$(echo "$okcc_cpu_per_k / $kam_cpu_per_k" | bc -l)"
else
    echo "no ratio: a server completed no registration" >&2
    exit 1
fi
