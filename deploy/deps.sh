#!/bin/sh
# deps.sh [run|test|bench|docker] - makes sure the Debian packages LibreFang
# builds and runs with (and, for test and bench, tests with) are installed;
# docker adds what `make test-deploy` needs to those of test: docker.io
# (dockerd), docker-compose and debootstrap (deploy/base-image.sh).
# As root it installs what is missing with apt-get; otherwise it prints the
# exact command and fails.  For test and bench it also needs Node (the fake
# LLM provider, tests/e2e) and installs the npm packages of tests/e2e
# (npm ci) when they are missing or older than their lockfile (among them
# telegram-test-api, the Telegram adapter's Bot API peer: t8110, t8095;
# ws, on which discord_server.mjs is the Discord adapter's Gateway peer:
# t8130, t8097, mattermost_server.mjs the Mattermost adapter's
# WebSocket peer: t8150, t8099, and slack_server.mjs the Slack adapter's
# Socket Mode peer: t8140, t8098).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)

pkgs="gcc make pkg-config libc6-dev libnng-dev libmicrohttpd-dev libjansson-dev
libpq-dev libcurl4-openssl-dev libssl-dev uuid-dev postgresql curl jq
python3 poppler-utils tzdata"
# the audit service's backups run pg_dump, pg_restore, psql and tar
pkgs="$pkgs postgresql-client tar"
# the channel adapters' libraries: libmosquitto (channel-mqtt),
# libstrophe (channel-xmpp)
pkgs="$pkgs libmosquitto-dev libstrophe-dev"
mode=${1:-run}
case $mode in
run) ;;
# promtool checks GET /api/metrics (t7010)
test)	pkgs="$pkgs prometheus"
	# the IRC adapter's real peer, and its TLS certificate (t8050);
	# openssl also signs t8201's inbound webhooks
	pkgs="$pkgs ngircd openssl"
	# the MQTT adapter's real broker and its test clients (t8060)
	pkgs="$pkgs mosquitto mosquitto-clients"
	# the XMPP adapter's real peer and its test user (t8070)
	pkgs="$pkgs prosody python3-slixmpp"
	# the email adapter's real IMAP and SMTP peers (t8080)
	pkgs="$pkgs dovecot-imapd python3-aiosmtpd"
	# the dashboard's browser tests: headless Chromium driven by
	# playwright-core (tests/e2e/*.browser.test.mjs, t2320-t2339)
	pkgs="$pkgs chromium" ;;
bench)	pkgs="$pkgs wrk binutils chromium" ;;
docker)	pkgs="$pkgs debootstrap docker-compose"
	# Any docker client and daemon will do (a docker-ce install has no
	# docker.io package); else Debian's.
	if ! command -v dockerd >/dev/null 2>&1; then
		pkgs="$pkgs docker.io"
	fi ;;
*)	echo "usage: deps.sh [run|test|bench|docker]" >&2; exit 2 ;;
esac

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
# Node runs the fake LLM provider and tests/e2e.  Any node and npm on the
# PATH will do (a NodeSource nodejs carries its own npm); else Debian's.
if [ "$mode" != run ] && { ! command -v node >/dev/null 2>&1 ||
    ! command -v npm >/dev/null 2>&1; }; then
	missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "LibreFang needs these Debian packages:$missing" >&2
		echo "Install them with:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# tests/e2e/node_modules, from the lockfile.  npm writes
# node_modules/.package-lock.json on every install.
e2e=$root/tests/e2e
if [ "$mode" != run ] && [ -f "$e2e/package-lock.json" ] &&
   { [ ! -f "$e2e/node_modules/.package-lock.json" ] ||
     [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; }; then
	echo "deps: npm ci --prefix tests/e2e"
	if ! npm ci --prefix "$e2e" --no-audit --no-fund --loglevel=error >/dev/null; then
		echo "deps: npm ci in tests/e2e failed; the tests that need it will fail" >&2
	fi
fi
exit 0
