# Vigil: `make demo` and `make test` set everything up themselves on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.vigil-installed
# MediaPipe's own pipeline, the benchmark's peer: a venv of its own (mediapipe 0.10.21 pins an old numpy)
MP_VENV := .cache/vigil/mediapipe-venv
MP_STAMP := $(MP_VENV)/.installed
DEMO_ARGS ?=

.PHONY: setup system-deps models demo test test-fast test-slow benchmark evaluate evaluate-false-alarms lint clean-models

setup: $(STAMP)

# Debian packages the project needs (OpenCV's libGL and GLib, npm for the lite/heavy pose models, GStreamer's RTSP
# server for the tests and the demo, Xvfb and xdotool for the window tests, Mosquitto for the MQTT tests, Chromium and its
# WebDriver for the browser-console test), installed only when what they provide is missing.
system-deps:
	@missing=""; \
	ldconfig -p | grep -q 'libGL.so.1 ' || missing="$$missing libgl1"; \
	ldconfig -p | grep -q 'libgthread-2.0.so.0 ' || missing="$$missing libglib2.0-0"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v Xvfb >/dev/null 2>&1 || missing="$$missing xvfb"; \
	command -v xdotool >/dev/null 2>&1 || missing="$$missing xdotool"; \
	[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || missing="$$missing mosquitto"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium chromium-driver"; \
	command -v dockerd >/dev/null 2>&1 || missing="$$missing docker.io"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	command -v mmdebstrap >/dev/null 2>&1 || missing="$$missing mmdebstrap"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' \
	  >/dev/null 2>&1 || missing="$$missing python3-gi gir1.2-gst-rtsp-server-1.0"; \
	gst-inspect-1.0 x264enc >/dev/null 2>&1 || missing="$$missing gstreamer1.0-tools gstreamer1.0-plugins-base \
	  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned to the local CPU build, so nothing pulls the CUDA wheels
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[toolchain,test,bench]'
	@touch $@

$(MP_STAMP):
	@test -x $(MP_VENV)/bin/python || $(PYTHON) -m venv $(MP_VENV)
	$(MP_VENV)/bin/pip install -q mediapipe==0.10.21
	@touch $@

# Fetch, convert, quantize and prove the models; models already up to date are skipped.
models: setup
	$(PY) -m convert build

demo: setup models
	$(PY) -m edge_app demo $(DEMO_ARGS)

test: setup models $(MP_STAMP)
	$(PY) -m pytest -q -m "not slow" tests

# The unit tier alone: no models, no processes, no sockets (tests/unit/conftest.py refuses them); under a minute.
test-fast: setup
	$(PY) -m pytest -q tests/unit

test-slow: setup models
	$(PY) -m pytest -q -rP -m slow tests  # -rP: the soak prints its memory, threads, fds and queues

benchmark: setup models $(MP_STAMP)
	$(PY) -m edge_app benchmark

# Fall and fatigue alerts of the whole pipeline on the held-back clips of ../shared/data/falls.
evaluate: setup models
	$(PY) -m edge_app evaluate --clips configs/clips/falls_test.json \
	  --labels ../shared/data/falls/urfd/urfall-cam0-falls.csv --json reports/eval_falls_test.json

# The false-alarm budget: every everyday-activity clip of ../shared/data (each its own stream, played once, never
# looped) with the default config, and vtest.avi with the CCTV config; false fall and fatigue alerts per hour.
evaluate-false-alarms: setup models
	$(PY) -m edge_app evaluate --clips configs/clips/everyday_all.json --json reports/false_alarms_everyday.json
	$(PY) -c "from edge_app.demo_source import vtest_clip; vtest_clip()"
	$(PY) -m edge_app evaluate --clips configs/clips/vtest.json --config configs/cctv.yaml \
	  --json reports/false_alarms_vtest.json

lint: setup
	$(PY) -m ruff check edge_app convert tests scripts

clean-models:
	rm -rf models_ir
