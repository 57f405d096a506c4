#!/usr/bin/env bash
# Runs the server-and-CLI commands of README.md as written, so they cannot
# rot: .ci/run calls it. Loopback only; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
bin="$work/bin"
mkdir -p "$bin"
go build -o "$bin/outpostd" ./cmd/outpostd
go build -o "$bin/outpost" ./cmd/outpost
export PATH="$bin:$PATH"
# A base port with it and the next three free (nothing answers there):
# the server, then the three nodes of "Run several nodes".
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=
for _ in $(seq 50); do
	p=$(( 20000 + RANDOM % 20000 ))
	if free $p && free $((p + 1)) && free $((p + 2)) && free $((p + 3)); then port=$p; break; fi
done
if [ -z "$port" ]; then echo "no free ports found"; exit 1; fi
cd "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; cd /; rm -rf "$work"' EXIT

# --- README: "Run the server and the CLI": the block between the
# walkthrough markers, as written, but for the binaries (built above
# rather than installed) and the port (a free one rather than 8080). ---
block=$(sed -n '/^<!-- walkthrough:begin/,/^<!-- walkthrough:end/p' "$repo/README.md" |
	grep -v '^<!--' | grep -v '^```' | grep -v '^go install ')
if [ -z "$block" ] || ! grep -q 'alice channel create' <<<"$block"; then
	echo "README.md: no walkthrough block"; exit 1
fi
block=${block//127.0.0.1:8080/127.0.0.1:$port}
echo "$block" >walkthrough.sh
# Sourced, so outpostd is this script's job %1 and the functions stay;
# set -e stops at the first command that fails.
source ./walkthrough.sh
# Each of the two reads the other's message from their own local DB.
got=$(bob messages messaging:alice-bob)
if ! grep -q 'alice: Hi Bob!' <<<"$got"; then
	echo "bob does not see alice's message: $got"; exit 1
fi
got=$(alice messages messaging:alice-bob)
if ! grep -q 'bob: Hi Alice!' <<<"$got"; then
	echo "alice does not see bob's reply: $got"; exit 1
fi
echo "README two users: ok"
# Each holds the task with Bob's change, at the server's version.
for who in alice bob; do
	got=$($who record get tasks list:house t1)
	if ! grep -q '"done": *true' <<<"$got" || ! grep -q '"title": *"Buy milk"' <<<"$got"; then
		echo "$who's task t1 is not Buy milk, done: $got"; exit 1
	fi
done
echo "README task list: ok"
export OUTPOST_USER=alice OUTPOST_DB=alice.db
export OUTPOST_TOKEN=$(outpost token --user alice)
outpost sync
outpost channels --json
# --- end ---

# --- README: "In a browser": the page, and curl -N on /events ---
page=$(curl -s -o /dev/null -w '%{http_code}' "$OUTPOST_SERVER/")
if [ "$page" != 200 ]; then echo "GET / answered $page"; exit 1; fi
api() { curl -sf -H "Authorization: Bearer $OUTPOST_TOKEN" -H 'Content-Type: application/json' "$@" >/dev/null; }
api -X POST -d '{"type":"messaging","id":"general"}' "$OUTPOST_SERVER/channels"
for i in 1 2 3; do
	api -X POST -d "{\"message\":{\"id\":\"walk$i\",\"text\":\"hello $i\"}}" "$OUTPOST_SERVER/channels/messaging:general/messages"
done
# A first connect starts with a reset whose id is the channel's position;
# a resume after it replays the three messages written meanwhile.
first=$(curl -sN --max-time 2 -H "Authorization: Bearer $OUTPOST_TOKEN" \
	"$OUTPOST_SERVER/events?cid=messaging:general" || true)
id0=$(grep -m1 '^id: ' <<<"$first" | cut -c5-)
if [ -z "$id0" ]; then echo "no id in the first connect: $first"; exit 1; fi
for i in 4 5 6; do
	api -X POST -d "{\"message\":{\"id\":\"walk$i\",\"text\":\"hello $i\"}}" "$OUTPOST_SERVER/channels/messaging:general/messages"
done
stream=$(curl -sN --max-time 2 -H "Authorization: Bearer $OUTPOST_TOKEN" -H "Last-Event-ID: $id0" \
	"$OUTPOST_SERVER/events" || true)
ids=$(grep '^id: ' <<<"$stream" | tr '\n' ' ')
seq=${id0##*/}
want="id: ${id0%/*}/$((seq + 1)) id: ${id0%/*}/$((seq + 2)) id: ${id0%/*}/$((seq + 3)) "
if [ "$ids" != "$want" ]; then
	echo "curl -N /events replayed ids: $ids, want $want"; echo "$stream"; exit 1
fi
# --- end ---

# --- README: "Run several nodes" (when Postgres is at hand: CI starts
# one and exports OUTPOST_PG_DSN; otherwise this part is skipped) ---
if [ -n "${OUTPOST_PG_DSN:-}" ]; then
	p1=$(( port + 1 )) p2=$(( port + 2 )) p3=$(( port + 3 ))
	for p in $p1 $p2 $p3; do
		outpostd --addr 127.0.0.1:$p --db "$OUTPOST_PG_DSN" 2>node-$p.log &
	done
	for p in $p1 $p2 $p3; do
		for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done # polling with a bound
	done
	health=$(curl -s http://127.0.0.1:$p3/healthz)
	if [ "$health" != '{"status":"ok","store":"postgres"}' ]; then echo "node 3 /healthz: $health"; exit 1; fi
	(
		ch="ops$RANDOM"
		export OUTPOST_USER=alice OUTPOST_DB=alice-pg.db
		export OUTPOST_TOKEN=$(outpost token --user alice)
		outpost channel create --server http://127.0.0.1:$p2 --type team --id $ch bob
		outpost send --server http://127.0.0.1:$p2 team:$ch "hello from node 2"
		OUTPOST_USER=bob OUTPOST_DB=bob-pg.db OUTPOST_TOKEN=$(outpost token --user bob) \
			outpost sync --server http://127.0.0.1:$p3
		got=$(OUTPOST_USER=bob outpost messages --db bob-pg.db team:$ch)
		if ! grep -q "hello from node 2" <<<"$got"; then echo "bob's messages through node 3: $got"; exit 1; fi
	)
	echo "README several nodes: ok"
fi
# --- end ---

# Offline: the same DB, a server that is gone; reads still work, sync
# says so with exit code 3.
kill %1; wait %1 2>/dev/null || true
outpost status
set +e
outpost sync --timeout 500ms # the store is bound to this URL
code=$?
set -e
if [ "$code" != 3 ]; then echo "offline sync exited $code, want 3"; exit 1; fi
echo "README walkthrough: ok"
