#!/bin/bash
# lf-healthcheck PROGRAM - the image's HEALTHCHECK: 0 when PROGRAM in this
# container answers its own probe, 1 (with why on stdout, which `docker
# inspect` keeps) otherwise.  Only bash and the programs themselves: the
# runtime image has no curl.
#
#   bus          its front port (the first URL of LIBREFANG_BUS_URL) accepts
#                a connection (for ipc://, the socket exists)
#   api-gateway  GET /api/health on LIBREFANG_API_LISTEN answers 200
#                (liveness; /api/ready is the stack's readiness, not this
#                container's)
#   a service    bustool req SERVICE sys.health answers 200 through the
#                broker.  The broker picks any replica of the service, so
#                this says the service answers, not that this replica
#                does; which replicas are up is /api/status's (issue 11).
set -u

prog=${1:?usage: lf-healthcheck PROGRAM}
bus=${LIBREFANG_BUS_URL:-ipc://${LIBREFANG_HOME:-/var/lib/librefang}/run/bus}
bus=${bus%%,*}

# hostport URL-or-HOST:PORT: "host port", 0.0.0.0 and * as 127.0.0.1.
hostport() {
	local hp=${1#*://} host port
	host=${hp%:*}
	port=${hp##*:}
	case $host in
	0.0.0.0|'*'|'') host=127.0.0.1 ;;
	'[::]') host=::1 ;;
	esac
	echo "${host#[}" | tr -d ']'
	echo "$port"
}

case $prog in
bus)
	case $bus in
	ipc://*)
		[ -S "${bus#ipc://}.front" ] && exit 0
		echo "no socket ${bus#ipc://}.front"
		exit 1 ;;
	tcp://*)
		{ read -r host; read -r port; } < <(hostport "$bus")
		if timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
			exit 0
		fi
		echo "nothing accepts on $host:$port"
		exit 1 ;;
	esac
	echo "unknown bus URL $bus"
	exit 1 ;;
api-gateway)
	{ read -r host; read -r port; } < <(hostport "${LIBREFANG_API_LISTEN:-127.0.0.1:4545}")
	line=$(timeout 4 bash -c "exec 3<>/dev/tcp/$host/$port &&
	    printf 'GET /api/health HTTP/1.0\r\nHost: %s\r\n\r\n' '$host' >&3 &&
	    head -n 1 <&3" 2>/dev/null)
	case $line in
	"HTTP/1."?" 200 "*) exit 0 ;;
	esac
	echo "GET /api/health on $host:$port: ${line:-no answer}"
	exit 1 ;;
agent-runtime|scheduler|memory|audit|channels)
	out=$(bustool -t 3000 req "$prog" sys.health 2>&1)
	case $out in
	*'"status":200'*) exit 0 ;;
	esac
	echo "sys.health of $prog: ${out:-no answer}" | head -c 300
	exit 1 ;;
esac
echo "lf-healthcheck: unknown program $prog"
exit 2
