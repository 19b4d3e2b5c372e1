#!/bin/sh
# deps.sh [bench] - makes sure the Debian packages LibreFang builds, runs
# and tests with are installed.  As root it installs what is missing with
# apt-get; otherwise it prints the exact command and fails.
set -eu

pkgs="gcc make pkg-config libc6-dev libnng-dev libmicrohttpd-dev libjansson-dev
libpq-dev libcurl4-openssl-dev libssl-dev uuid-dev postgresql curl jq
python3"
[ "${1:-}" = bench ] && pkgs="$pkgs wrk binutils"

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

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
