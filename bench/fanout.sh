#!/bin/bash
# bench/fanout.sh: --read-fanout all vs quorum, side by side. Two 3-agent clusters on
# 127.0.0.1 (ports 19001-19123), --sync=false, interleaved `dynago bench` rounds; prints
# req/s, p50, p99 and the agents' CPU per OK operation (from /proc/PID/stat).
# RR=0.95 for a read-heavy mix, DUR=10s for longer rounds. Stops its agents by PID.
set -u
DIR=$(mktemp -d); BIN=$DIR/dynago
cd "$(dirname "$0")/.." && go build -o $BIN ./cmd/dynago || exit 1
declare -A cl
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
start() { local base=$1 fan=$2 name=$3; local ps=""
  for i in 1 2 3; do
    local h=$((base+i)) r=$((base+10+i)) g=$((base+20+i))
    local join=""; [ $i -gt 1 ] && join="--join 127.0.0.1:$((base+21))"
    rm -rf $DIR/d$base-$i
    $BIN agent --name n$i --data-dir $DIR/d$base-$i --http 127.0.0.1:$h --rpc 127.0.0.1:$r --gossip 127.0.0.1:$g $join \
      --sync=false --read-fanout $fan --log-level error >$DIR/log$base-$i 2>&1 &
    pids+=($!); ps="$ps $!"; sleep 0.5
  done
  cl[$name]="$ps"
}
cpu() { local t=0; for p in $1; do set -- $(cut -d' ' -f14,15 /proc/$p/stat); t=$((t+$1+$2)); done; echo $t; }
start 19000 all A
start 19100 quorum B
sleep 4
A="http://127.0.0.1:19001,http://127.0.0.1:19002,http://127.0.0.1:19003"
B="http://127.0.0.1:19101,http://127.0.0.1:19102,http://127.0.0.1:19103"
tick=$(getconf CLK_TCK)
echo "A: --read-fanout all, B: --read-fanout quorum; ${RR:-0.5} reads, ${DUR:-5s} rounds"
for round in 1 2 3; do
  for t in A B; do
    addr=$A; [ $t = B ] && addr=$B
    c0=$(cpu "${cl[$t]}")
    out=$($BIN bench --addr $addr --duration ${DUR:-5s} --rounds 1 --read-ratio ${RR:-0.5} --json 2>/dev/null)
    c1=$(cpu "${cl[$t]}")
    echo "$out" | python3 -c "
import json,sys; d=json.load(sys.stdin)['rounds'][0]
cpu_us=($c1-$c0)*1e6/$tick
print('$t round $round: %6.0f req/s p50 %5.2fms p99 %5.2fms  cpu/op %5.0f us' % (d['throughput'], d['p50_us']/1000, d['p99_us']/1000, cpu_us/d['ok']))"
  done
done
