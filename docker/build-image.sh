#!/bin/sh
# Build the headroom image offline from a static binary (no base image, no network):
#
#   docker/build-image.sh [BINARY] [TAG]
#
# BINARY defaults to target/x86_64-unknown-linux-musl/release/headroom, made by
#   rustup target add x86_64-unknown-linux-musl   # once; Debian/Ubuntu also need: apt install musl-tools
#   cargo build --release --locked -p headroom --target x86_64-unknown-linux-musl
# TAG defaults to headroom:local (what `install apply --preset persistent-docker` and
# docker/headroom use unless told otherwise).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../target/x86_64-unknown-linux-musl/release/headroom}
tag=${2:-headroom:local}
[ -x "$binary" ] || { echo "build-image: no executable $binary (see the comment at the top of $0)" >&2; exit 1; }
# A dynamically linked binary would start and then fail to find its libraries in the image.
if command -v file >/dev/null 2>&1 && file -L "$binary" | grep -q 'dynamically linked'; then
    echo "build-image: $binary is dynamically linked; build it for x86_64-unknown-linux-musl" >&2
    exit 1
fi
ctx=$(mktemp -d "${TMPDIR:-/tmp}/headroom-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/context/workspace"
cp "$binary" "$ctx/context/headroom"
cp "$here/Dockerfile.offline" "$ctx/Dockerfile"
docker build --network host --quiet -t "$tag" "$ctx"
