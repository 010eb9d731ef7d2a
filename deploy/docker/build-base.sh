#!/bin/sh
# The base image from Debian packages (no registry needed): Debian 12 with Python 3.11 (the image uses OpenCV's
# headless wheel, which needs no GL), built by mmdebstrap into a tarball and imported into Docker as vigil-base:bookworm.
# Usage: deploy/docker/build-base.sh [MIRROR]   (default: the mirror of this machine's apt sources, else deb.debian.org)
set -eu
mirror=${1:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
command -v mmdebstrap >/dev/null || { echo "build-base.sh: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 2; }
command -v docker >/dev/null || { echo "build-base.sh: needs docker (apt-get install docker.io)" >&2; exit 2; }
tar=$(mktemp --suffix=.tar)
trap 'rm -f "$tar"' EXIT
mmdebstrap --variant=apt --components=main \
    --include=python3,python3-venv,ca-certificates \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
    bookworm "$tar" "$mirror"
docker import --change 'CMD ["/bin/sh"]' "$tar" vigil-base:bookworm
