#!/usr/bin/env bash
# t2201-backup-replicas.sh - backups with two audit replicas on two
# "hosts" (two homes, one database, one bus; services/audit/README.md,
# "Several replicas and hosts"): every replica lists the same archive
# (backups.archives); a restore through the replica whose home lacks the
# file is a 404 naming where it is, through the other a 200; once the
# file is copied into the second home, both restore it.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-backup-0123456789abcdef
lf_fake_stack agent-runtime audit
H2=$LF_TMP/home2
mkdir -p "$H2"
DB="host=$LIBREFANG_HOME/pg port=5432 dbname=librefang user=librefang"
LIBREFANG_HOME=$H2 LIBREFANG_DATABASE_URL=$DB lf_replica audit2 audit
t_ok "a second audit replica with a home of its own" grep -q "serving 'audit'" "$LF_TMP/log/audit2.log"

A=$(lf_agent twin m-twin)
t_ok "an agent" test -n "$A"
lf_req POST /api/backup '{}'
t_eq "a backup through one of them" "$LF_STATUS" 200
F=$(jb .filename)
if [ -f "$LIBREFANG_HOME/backups/$F" ]; then HAVE=$LIBREFANG_HOME; LACK=$H2
else HAVE=$H2; LACK=$LIBREFANG_HOME; fi
t_ok "the archive is in one home only" test -f "$HAVE/backups/$F" -a ! -e "$LACK/backups/$F"

listed=0
for i in 1 2 3 4 5 6; do
	lf_req GET /api/backups
	[ "$(jb "[.backups[] | select(.filename == \"$F\" and .path == \"$HAVE/backups/$F\")] | length")" = 1 ] &&
	    listed=$((listed + 1))
done
t_eq "every list, from either replica, shows it with its path" "$listed" 6

ok=0 elsewhere=0 other=0
for i in 1 2 3 4 5 6; do
	lf_req POST /api/restore "{\"filename\":\"$F\"}"
	case "$LF_STATUS" in
	200) ok=$((ok + 1)) ;;
	404) grep -q "is not on this host" <<<"$(jb .error)" && elsewhere=$((elsewhere + 1)) ;;
	*) other=$((other + 1)); echo "# $LF_STATUS $LF_BODY" ;;
	esac
done
t_eq "the replica with the file restores it, the other says where it is" \
    "$((ok > 0)) $((elsewhere > 0)) $((ok + elsewhere)) $other" "1 1 6 0"

mkdir -p "$LACK/backups" && cp "$HAVE/backups/$F" "$LACK/backups/$F"
ok=0
for i in 1 2 3 4; do
	lf_req POST /api/restore "{\"filename\":\"$F\"}"
	[ "$LF_STATUS" = 200 ] && ok=$((ok + 1))
done
t_eq "with the file in both homes, every restore succeeds" "$ok" 4
lf_req GET /api/agents
t_eq "the agent is there" "$(jb '.[0].name')" twin
lf_req GET /api/audit/verify
t_eq "the chain verifies" "$(jbc '[.valid]')" '[true]'

t_done
