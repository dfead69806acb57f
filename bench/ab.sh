#!/bin/bash
# bench/ab.sh: two dynago builds or flag sets, side by side. Starts two 3-agent
# clusters on 127.0.0.1 (ports 19001-19123; N3 R2 W2, --sync=false unless the flags
# say otherwise), then runs interleaved `dynago bench` rounds (A, B, A, B, ...) and
# prints req/s, p50, p99 and the agents' CPU per OK operation (from /proc/PID/stat),
# then the medians. Stops its agents by PID.
#
#   A_BIN, B_BIN      dynago binaries (default: both built from this tree)
#   A_FLAGS, B_FLAGS  extra agent flags per cluster (e.g. "--read-fanout all")
#   PROTO             resp (default) or http;  RR  read ratio (0.5);  DUR  round length (5s)
#   ROUNDS            rounds per cluster (3)
set -u
DIR=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
cd "$(dirname "$0")/.." || exit 1
if [ -z "${A_BIN:-}" ] || [ -z "${B_BIN:-}" ]; then
  go build -o "$DIR/dynago" ./cmd/dynago || exit 1
fi
A_BIN=${A_BIN:-$DIR/dynago}; B_BIN=${B_BIN:-$DIR/dynago}
PROTO=${PROTO:-resp}
declare -A cl addr
start() { local base=$1 bin=$2 name=$3 flags=$4 ps="" as=""
  for i in 1 2 3; do
    local h=$((base+i)) r=$((base+10+i)) g=$((base+20+i)) s=$((base+30+i))
    local join=""; [ $i -gt 1 ] && join="--join 127.0.0.1:$((base+21))"
    # shellcheck disable=SC2086 # flags are words
    "$bin" agent --name n$i --data-dir "$DIR/d$base-$i" --http 127.0.0.1:$h --rpc 127.0.0.1:$r --gossip 127.0.0.1:$g \
      --resp 127.0.0.1:$s $join --sync=false --log-level error $flags >"$DIR/log$base-$i" 2>&1 &
    pids+=($!); ps="$ps,$!"; sleep 0.5
    if [ "$PROTO" = resp ]; then as="$as,127.0.0.1:$s"; else as="$as,http://127.0.0.1:$h"; fi
  done
  cl[$name]=${ps#,}; addr[$name]=${as#,}
}
start 19000 "$A_BIN" A "${A_FLAGS:-}"
start 19100 "$B_BIN" B "${B_FLAGS:-}"
sleep 4
echo "A: $A_BIN ${A_FLAGS:-}; B: $B_BIN ${B_FLAGS:-}; $PROTO, ${RR:-0.5} reads, ${DUR:-5s} rounds"
: > "$DIR/results"
for round in $(seq 1 "${ROUNDS:-3}"); do
  for t in A B; do
    preload=false; [ "$round" = 1 ] && preload=true
    out=$("$A_BIN" bench --protocol "$PROTO" --addr "${addr[$t]}" --duration "${DUR:-5s}" --rounds 1 \
      --read-ratio "${RR:-0.5}" --preload=$preload --pids "${cl[$t]}" --json 2>/dev/null)
    echo "$out" | python3 -c "
import json,sys; d=json.load(sys.stdin)['rounds'][0]
print('$t', d['throughput'], d['p50_us'], d['p99_us'], d.get('cpu_us_per_op', 0))" | tee -a "$DIR/results" |
      awk -v r="$round" '{printf "%s round %s: %6.0f req/s p50 %5.2fms p99 %5.2fms  cpu/op %5.0f us\n", $1, r, $2, $3/1000, $4/1000, $5}'
  done
done
python3 - "$DIR/results" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
m = {t: [statistics for statistics in zip(*[list(map(float, r[1:])) for r in rows if r[0] == t])] for t in "AB"}
med = {t: [st.median(col) for col in m[t]] for t in "AB"}
for t in "AB":
    print("%s median: %6.0f req/s p50 %5.2fms p99 %5.2fms  cpu/op %5.0f us" % (t, med[t][0], med[t][1]/1000, med[t][2]/1000, med[t][3]))
print("B/A: throughput %.2fx, cpu/op %.2fx" % (med["B"][0]/med["A"][0], med["B"][3]/med["A"][3]))
PY
