#!/bin/sh
# The runtime image: deploy/docker/build.sh [--gpu] [TAG]   (default vigil:latest; builds its base first if missing)
# --gpu: on vigil-base-gpu:bookworm, with Intel's OpenCL runtime for OpenVINO's GPU plugin (run with --device /dev/dri)
# The Python packages come from a wheelhouse made here with this machine's pip and package index, so the image build
# needs no network; the checkout is copied first, so building never writes into it. In the image OpenCV is the
# headless wheel (a container has no display; `vigil run --kiosk` is for the bare-metal unit, deploy/systemd).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
base=base
if [ "${1:-}" = "--gpu" ]; then base=base-gpu; shift; fi
tag=${1:-vigil:latest}
py=${PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || py=python3
command -v docker >/dev/null || { echo "build.sh: needs docker (apt-get install docker.io)" >&2; exit 2; }
docker image inspect "vigil-$base:bookworm" >/dev/null 2>&1 || "$repo/deploy/docker/build-base.sh" "$base"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir "$ctx/src" "$ctx/wheels"
cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/edge_app" "$repo/convert" "$ctx/src/"
"$py" - "$repo/pyproject.toml" > "$ctx/requirements.txt" <<'PY'
import sys
import tomllib

deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]  # the runtime's, never the toolchain's
print("\n".join(d.split("#")[0].strip().replace("opencv-python==", "opencv-python-headless==") for d in deps))
PY
"$py" -m pip wheel -q --no-deps --wheel-dir "$ctx/wheels" "$ctx/src"
"$py" -m pip wheel -q --wheel-dir "$ctx/wheels" -r "$ctx/requirements.txt"
cp "$repo/deploy/docker/Dockerfile" "$ctx/"  # with requirements.txt and wheels/: the whole build context
docker build --build-arg "BASE=vigil-$base:bookworm" -t "$tag" "$ctx"
docker image prune -f --filter label=vigil.stage=build >/dev/null  # the build stage's image: not kept
