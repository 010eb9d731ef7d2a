#!/bin/sh
# Base images from Debian packages (no registry needed), built by mmdebstrap into a tarball and imported into Docker:
#   vigil-base:bookworm       Debian 12 with Python 3.11 (the runtime image adds Vigil; OpenCV is the headless wheel)
#   vigil-base-gpu:bookworm   the same with Intel's OpenCL runtime (intel-opencl-icd), which OpenVINO's GPU plugin
#                             needs to use an Intel GPU passed in with --device /dev/dri
#   vigil-mosquitto:bookworm  Debian 12's Mosquitto, the broker of compose.yaml
# Usage: deploy/docker/build-base.sh [base|base-gpu|mosquitto] [MIRROR]
#   (default: base; MIRROR: the one of this machine's apt sources, else deb.debian.org)
set -eu
which=${1:-base}
mirror=${2:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
case "$which" in
  base) tag=vigil-base:bookworm; packages=python3,python3-venv,ca-certificates; cmd='["/bin/sh"]' ;;
  base-gpu) tag=vigil-base-gpu:bookworm; packages=python3,python3-venv,ca-certificates,intel-opencl-icd
            cmd='["/bin/sh"]' ;;
  mosquitto) tag=vigil-mosquitto:bookworm; packages=mosquitto
             cmd='["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"]' ;;
  *) echo "build-base.sh: unknown image '$which' (base, base-gpu or mosquitto)" >&2; exit 2 ;;
esac
command -v mmdebstrap >/dev/null || { echo "build-base.sh: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 2; }
command -v docker >/dev/null || { echo "build-base.sh: needs docker (apt-get install docker.io)" >&2; exit 2; }
tar=$(mktemp --suffix=.tar)
trap 'rm -f "$tar"' EXIT
mmdebstrap --variant=apt --components=main --include="$packages" \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
    bookworm "$tar" "$mirror"
docker import --change "CMD $cmd" "$tar" "$tag"
