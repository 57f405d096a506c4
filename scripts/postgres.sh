#!/usr/bin/env bash
# postgres.sh starts a throwaway PostgreSQL for tests, CI and trying out
# several outpostd nodes, and stops it.
#
#   eval "$(bash scripts/postgres.sh start /tmp/outpost-pg)"   # exports OUTPOST_PG_DSN
#   bash scripts/postgres.sh stop /tmp/outpost-pg
#
# start makes a cluster in DIR (a fresh temp dir if none is given) with
# Debian's postgresql binaries (/usr/lib/postgresql/*/bin, or PG_BIN),
# listening on 127.0.0.1 only, on PGPORT or a free port, with fsync off
# (the data is disposable), and prints the export line for its DSN.
# initdb refuses to run as root: as root, the cluster runs as the postgres
# user (runuser). Nothing else on the machine is touched.
set -euo pipefail

cmd=${1:-}
dir=${2:-}

bin=${PG_BIN:-}
if [ -z "$bin" ]; then
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
	echo "postgres.sh: no PostgreSQL binaries (apt-get install postgresql, or set PG_BIN)" >&2
	exit 1
fi

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "postgres.sh: no free port found" >&2
	exit 1
}

case "$cmd" in
start)
	if [ -z "$dir" ]; then
		dir=$(mktemp -d /tmp/outpost-pg.XXXXXX)
	fi
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$dir"
		chmod 700 "$dir"
	fi
	port=${PGPORT:-$(free_port)}
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; exit 1; }
	fi
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
		"-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
		>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
	echo "$port" >"$dir/port"
	echo "export OUTPOST_PG_DSN='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable' OUTPOST_PG_DIR='$dir'"
	;;
stop)
	if [ -z "$dir" ]; then
		echo "usage: postgres.sh stop DIR" >&2
		exit 2
	fi
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$bin/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null
	fi
	;;
restart)
	# Restarts the cluster on its port: for fault tests.
	as_pg "$bin/pg_ctl" -D "$dir/data" -w -m fast restart -o \
		"-c listen_addresses=127.0.0.1 -p $(cat "$dir/port") -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
		>/dev/null
	;;
*)
	echo "usage: postgres.sh start [DIR] | stop DIR | restart DIR" >&2
	exit 2
	;;
esac
