#!/bin/sh
# images.sh [TAG] - builds every LibreFang image from docker/ on the local
# base image (made first, when missing, by deploy/base-image.sh), tagged
# TAG (default latest): librefang-{bus,api-gateway,agent-runtime,scheduler,
# memory,audit,channels} and librefang-postgres, the names
# deploy/docker-compose.yml runs.  `make docker` and tests/deploy use it,
# so they share one layer cache: unchanged sources build nothing, and a
# new commit alone relinks only the gateway (/api/version's commit).
# The classic builder, as docker-compose 1.29 uses; LF_GIT_SHA names the
# commit (default: git's, else "unknown").
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-latest}
base=${LIBREFANG_BASE_IMAGE:-librefang-base:bookworm}
sha=${LF_GIT_SHA:-$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

"$root/deploy/base-image.sh" "$base"
cd "$root"
# build IMAGE DOCKER-BUILD-ARGS..: quiet unless it fails.
build() {
	img=$1
	shift
	printf '  IMAGE   %s\n' "$img"
	if ! DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" \
	    -t "$img" "$@" . >"$log" 2>&1; then
		echo "images.sh: building $img failed; the end of its log:" >&2
		tail -n 30 "$log" >&2
		exit 1
	fi
}
for t in bus api-gateway agent-runtime scheduler memory audit channels; do
	build "librefang-$t:$tag" -f docker/Dockerfile --target "$t" \
	    --build-arg LF_GIT_SHA="$sha"
done
build "librefang-postgres:$tag" -f docker/postgres/Dockerfile
