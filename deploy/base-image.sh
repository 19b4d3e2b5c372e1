#!/bin/sh
# base-image.sh [NAME] - makes the local Debian 12 base image every LibreFang
# image builds FROM (docker/Dockerfile, docker/postgres/Dockerfile), without
# any registry: debootstrap --variant=minbase bookworm into a temporary
# directory, then `docker import`.  About 35 s the first time.
#
# Idempotent and cached: when NAME (default librefang-base:bookworm, or
# $LIBREFANG_BASE_IMAGE) exists it does nothing.  A lock (flock on
# /tmp/librefang-base-image.lock) makes a second run wait for the first
# instead of racing it, then find the image there.  Needs root (debootstrap)
# and a running dockerd.  LIBREFANG_DEBIAN_MIRROR picks the mirror.
set -eu

name=${1:-${LIBREFANG_BASE_IMAGE:-librefang-base:bookworm}}
mirror=${LIBREFANG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# One lock file for every caller, whatever its TMPDIR.
lock=/tmp/librefang-base-image.lock

have() { docker image inspect "$1" >/dev/null 2>&1; }

if have "$name"; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "base-image.sh: making $name needs root (debootstrap)" >&2
	exit 1
fi
command -v debootstrap >/dev/null 2>&1 || {
	echo "base-image.sh: debootstrap is not installed (deploy/deps.sh docker)" >&2
	exit 1
}

exec 9>"$lock"
# Bounded: a debootstrap that has not finished in 10 minutes is stuck.
if ! flock -w 600 9; then
	echo "base-image.sh: another run has held $lock for 10 minutes" >&2
	exit 1
fi
# The run we waited for may have made it.
if have "$name"; then
	exit 0
fi

dir=$(mktemp -d /var/tmp/librefang-base.XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "base-image.sh: debootstrap bookworm into $dir ($mirror)"
if ! timeout 900 debootstrap --variant=minbase bookworm "$dir" "$mirror" \
    >"$dir.log" 2>&1; then
	echo "base-image.sh: debootstrap failed; the end of its log:" >&2
	tail -n 20 "$dir.log" >&2
	rm -f "$dir.log"
	exit 1
fi
rm -f "$dir.log"
# What docker's debian images also do: no apt caches or lists in the
# image, and no recommends or docs pulled in by the images built on it.
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
cat >"$dir/etc/apt/apt.conf.d/90librefang" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
# dpkg's fsync after every file is what makes apt-get slow on overlayfs;
# a layer half written is thrown away anyway.
echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/90librefang-unsafe-io"
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' \
    "$mirror" "$mirror" >"$dir/etc/apt/sources.list"
tar -C "$dir" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' - "$name" >/dev/null
echo "base-image.sh: made $name"
