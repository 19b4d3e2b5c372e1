#!/bin/sh
# pg.sh start|stop|status HOME [test]
#
# Manages LibreFang's private PostgreSQL cluster in HOME/pg: data in
# HOME/pg/data, a Unix socket in HOME/pg (no TCP listener), a database and
# superuser both named "librefang", trust auth on the socket only (the
# directory's permissions are the access control).  PostgreSQL refuses to
# run as root, so under root the cluster runs as the "postgres" user; when
# that user cannot reach HOME (say /root is 0700), HOME/pg is a symlink to
# /var/lib/librefang/clusters/<hash of HOME>.
# "test" trades durability for speed (fsync off) for throwaway clusters.
# LF_PG_TEMPLATE, when it names a stopped cluster's data directory (the
# test runner makes one per run: tests/run.sh), is copied instead of
# running initdb, which takes seconds of CPU on a busy machine.
# "stop" is bounded: about 16 s at most, then the postmaster is killed.
set -eu

cmd=${1:-}
home=${2:-}
mode=${3:-}
[ -n "$cmd" ] && [ -n "$home" ] || { echo "usage: pg.sh start|stop|status HOME [test]" >&2; exit 2; }

pgbin=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
	[ -x "$d/pg_ctl" ] && { pgbin=$d; break; }
done
[ -n "$pgbin" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

root=0
[ "$(id -u)" = 0 ] && root=1
as_pg() {
	if [ $root = 1 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$home"
pg=$home/pg
if [ ! -e "$pg" ]; then
	if [ $root = 1 ] && ! runuser -u postgres -- test -x "$home" 2>/dev/null; then
		hash=$(printf '%s' "$(cd "$home" && pwd -P)" | sha1sum | cut -c1-16)
		target=/var/lib/librefang/clusters/$hash
		mkdir -p "$target"
		ln -s "$target" "$pg"
	else
		mkdir -p "$pg"
	fi
fi
[ $root = 1 ] && chown postgres:postgres "$pg/" && chmod 0700 "$pg/"
# PostgreSQL gets the resolved path: the postgres user may not be able to
# traverse the symlink's own directory.
pgreal=$(cd "$pg" && pwd -P)
data=$pgreal/data
log=$pgreal/postgresql.log

case "$cmd" in
start)
	if [ -f "$data/PG_VERSION" ]; then
		:
	elif [ -f "${LF_PG_TEMPLATE:-/nonexistent}/PG_VERSION" ]; then
		as_pg cp -a "$LF_PG_TEMPLATE" "$data"
	else
		as_pg "$pgbin/initdb" -D "$data" -U librefang --auth=trust \
		    -E UTF8 --locale=C.UTF-8 ${mode:+--no-sync} >"$pgreal/initdb.log" 2>&1 || {
			cat "$pgreal/initdb.log" >&2; exit 1; }
	fi
	if as_pg "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		exit 0
	fi
	opts="-c listen_addresses='' -c unix_socket_directories='$pgreal' -c port=5432 -c max_connections=200"
	[ "$mode" = test ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	as_pg "$pgbin/pg_ctl" -D "$data" -l "$log" -o "$opts" -w -t 30 start >/dev/null || {
		tail -20 "$log" >&2; exit 1; }
	if ! "$pgbin/psql" -h "$pg" -U librefang -d postgres -Atc \
	    "SELECT 1 FROM pg_database WHERE datname = 'librefang'" | grep -q 1; then
		"$pgbin/createdb" -h "$pg" -U librefang librefang
	fi
	;;
stop)
	# Bounded, and it stops: a fast shutdown (sessions rolled back, a
	# checkpoint), then an immediate one, then SIGKILL of the postmaster.
	[ -f "$data/PG_VERSION" ] || exit 0
	as_pg "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1 || exit 0
	as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w -t 10 stop >/dev/null 2>&1 && exit 0
	echo "pg.sh: PostgreSQL in $data did not stop in 10 s; stopping it immediately" >&2
	as_pg "$pgbin/pg_ctl" -D "$data" -m immediate -w -t 5 stop >/dev/null 2>&1 && exit 0
	pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
	case $pid in
	''|*[!0-9]*) exit 1 ;;
	esac
	echo "pg.sh: killing postmaster $pid" >&2
	kill -KILL "$pid" 2>/dev/null || true
	sleep 1
	! kill -0 "$pid" 2>/dev/null
	;;
status)
	as_pg "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1
	;;
*)
	echo "pg.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
