#!/bin/bash
# bench/rebuild.sh: how long a replacement node takes to get its partitions
# back (README "Backup, restore and recovery": RTO of a node rebuild), and
# how long a whole-cluster backup and restore take, at a data size this
# machine affords. Three agents on 127.0.0.1 (ports 19201-19234 and 19301-19323), loaded
# with KEYS keys of VALUE bytes at W=2 (fsync on); n3 is killed and removed
# (its disk "lost"), n4 joins empty and pulls every partition; the time
# until `dynago members` lists n4 valid, and the bytes it pulled
# (/debug/transfers), give seconds per GB. Then `dynago backup --cluster`
# and `dynago restore` into a fresh 3-node cluster.
#   KEYS=12800 VALUE=4096 RATE=4194304 bash bench/rebuild.sh
# RATE is the agents' --transfer-rate (bytes/s; 4 MiB/s is the default).
# Stops its agents by PID.
set -u
KEYS=${KEYS:-12800}; VALUE=${VALUE:-4096}; RATE=${RATE:-4194304}
DIR=$(mktemp -d); BIN=$DIR/dynago
cd "$(dirname "$0")/.." && go build -o $BIN ./cmd/dynago || exit 1
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
declare -A pid
start() { local i=$1 base=$2 join=$3; local h=$((base+i)) r=$((base+10+i)) g=$((base+20+i))
  local j=""; [ -n "$join" ] && j="--join 127.0.0.1:$join"
  $BIN agent --name n$i --data-dir $DIR/d$base-$i --http 127.0.0.1:$h --rpc 127.0.0.1:$r --gossip 127.0.0.1:$g $j \
    --transfer-rate $RATE --log-level warn >$DIR/log$base-$i 2>&1 &
  pids+=($!); pid[$base-$i]=$!
  until curl -sf 127.0.0.1:$h/health >/dev/null; do sleep 0.1; done
}
valid() { $BIN members --addr http://127.0.0.1:$1 --json | python3 -c "
import json,sys; ms=json.load(sys.stdin); print(sum(1 for m in ms if m['alive'] and m['state']=='valid'))"; }
waitvalid() { until [ "$(valid $1)" = "$2" ]; do sleep 0.2; done; }
now() { date +%s.%N; }

B=19200
start 1 $B ""; start 2 $B $((B+21)); start 3 $B $((B+21)); waitvalid $((B+1)) 3
A="http://127.0.0.1:$((B+1)),http://127.0.0.1:$((B+2)),http://127.0.0.1:$((B+3))"
t0=$(now)
$BIN bench --addr $A --read-ratio 0 --preload --keys $KEYS --value-size $VALUE --rounds 1 --duration 1s --quiet >/dev/null 2>&1
t1=$(now)
echo "loaded $KEYS keys of $VALUE bytes in $(echo "$t1-$t0" | bc) s; data dirs: $(du -sh $DIR/d$B-1 | cut -f1) per node"

# Lose n3's disk; replace it with an empty n4.
kill -9 ${pid[$B-3]}; wait ${pid[$B-3]} 2>/dev/null
until [ "$($BIN members --addr http://127.0.0.1:$((B+1)) --json | python3 -c "import json,sys; print(sum(1 for m in json.load(sys.stdin) if not m['alive']))")" = 1 ]; do sleep 0.2; done
$BIN remove --addr http://127.0.0.1:$((B+1)) n3 >/dev/null
t0=$(now)
start 4 $B $((B+21))
waitvalid $((B+1)) 3
until [ "$($BIN members --addr http://127.0.0.1:$((B+4)) --json | python3 -c "import json,sys; print([m['state'] for m in json.load(sys.stdin) if m['name']=='n4'][0])")" = valid ]; do sleep 0.2; done
t1=$(now)
bytes=$(curl -s 127.0.0.1:$((B+4))/debug/transfers | python3 -c "import json,sys; d=json.load(sys.stdin); print(d.get('totals',{}).get('bytes',0))")
secs=$(echo "$t1-$t0" | bc)
echo "rebuild: n4 valid after $secs s, pulled $bytes bytes at --transfer-rate $RATE: $(echo "scale=0; $secs*1073741824/($bytes+1)" | bc) s per GiB"

# Whole cluster: back up, restore into a fresh cluster.
t0=$(now)
$BIN backup --cluster --addr http://127.0.0.1:$((B+1)) --out $DIR/c.bak >/dev/null 2>&1 || echo "backup failed"
t1=$(now)
size=$(stat -c %s $DIR/c.bak)
echo "backup --cluster: $(echo "$t1-$t0" | bc) s, $size bytes"
C=19300
start 1 $C ""; start 2 $C $((C+21)); start 3 $C $((C+21)); waitvalid $((C+1)) 3
t0=$(now)
$BIN restore --addr http://127.0.0.1:$((C+1)) $DIR/c.bak >/dev/null 2>&1 || echo "restore failed"
t1=$(now)
echo "restore into a fresh cluster: $(echo "$t1-$t0" | bc) s for $size bytes of backup"
