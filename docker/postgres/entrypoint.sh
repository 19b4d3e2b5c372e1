#!/bin/sh
# lf-postgres [postgres args..] - the PostgreSQL image's entrypoint: makes
# the cluster in $PGDATA on the first start, then runs postgres in the
# foreground (PID 1; SIGINT, the image's STOPSIGNAL, is a fast shutdown).
set -eu

: "${PGDATA:?}"
user=${POSTGRES_USER:-librefang}
db=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "lf-postgres: set POSTGRES_PASSWORD to make the cluster" >&2
		exit 1
	fi
	echo "lf-postgres: making the cluster in $PGDATA"
	pw=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
	initdb -D "$PGDATA" -U "$user" --pwfile="$pw" -E UTF8 \
	    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
	    >/dev/null
	rm -f "$pw"
	# The services connect over the compose network, not loopback.
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	if [ "$db" != postgres ]; then
		# Single-user mode: nothing listens until the cluster is whole,
		# so the healthcheck cannot pass half way.
		echo "CREATE DATABASE \"$db\" OWNER \"$user\"" |
		    postgres --single -D "$PGDATA" -j postgres >/dev/null
	fi
fi
exec postgres -D "$PGDATA" "$@"
