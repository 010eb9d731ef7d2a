"""Vigil runtime.

    python -m edge_app run --config configs/default.yaml --source X [--record FILE] [--max-frames N] [--headless]
    python -m edge_app demo [--record FILE] [--max-frames N]
    python -m edge_app benchmark [--quick]
    python -m edge_app config [--config FILE] [--describe]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from edge_app.cli_support import run_main

REPO = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge_app", description="Vigil edge safety monitor")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text in (("run", "run pose monitoring on a source"),
                            ("demo", "run on the default source (webcam, else the vtest.avi clip)")):
        r = sub.add_parser(name, help=help_text)
        r.add_argument("--config", type=Path, default=None, help="YAML config (default configs/default.yaml)")
        if name == "run":
            r.add_argument("--source", required=True, help="video file, image folder, webcam index or rtsp:// URL")
        r.add_argument("--record", type=Path, default=None, help="write the annotated video here")
        r.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
        r.add_argument("--headless", action="store_true", help="never open a window")
        r.add_argument("--stats", type=Path, default=None, help="write a JSON summary here at exit")
    b = sub.add_parser("benchmark", help="model latency report (reports/benchmark.md and .json)")
    b.add_argument("--quick", action="store_true", help="fewer iterations (well under 2 minutes)")
    b.add_argument("--models-dir", type=Path, default=REPO / "models_ir")
    b.add_argument("--out", type=Path, default=REPO / "reports")
    c = sub.add_parser("config", help="validate a config, or describe every key")
    c.add_argument("--config", type=Path, default=None)
    c.add_argument("--describe", action="store_true", help="list every key with type, default and description")
    return p


def _display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from edge_app.config import Config, load_config
    from edge_app.schema import describe

    if args.command == "config":
        if args.describe:
            print("\n".join(describe(Config)))
            return 0
        cfg = load_config(args.config)
        print(f"{cfg.path}: valid")
        return 0

    if args.command == "benchmark":
        from edge_app.benchmark import run as run_benchmark

        run_benchmark(args.models_dir, args.out, args.quick)
        print((args.out / "benchmark.md").read_text())
        return 0

    from edge_app.app import run_single
    from edge_app.errors import VigilError

    cfg = load_config(args.config)
    if args.max_frames is not None and args.max_frames < 1:
        raise VigilError(f"--max-frames must be >= 1, got {args.max_frames}")
    show = not args.headless and _display_available()
    record = args.record
    if args.command == "demo":
        from edge_app.demo_source import default_source

        source = default_source()
        if args.config is None and source != "0":  # the vtest.avi clip is a CCTV view
            cfg = load_config(REPO / "configs" / "cctv.yaml")
        if record is None and not show:
            record = REPO / "reports" / "demo.mp4"
    else:
        source = args.source
    summary = run_single(cfg, source, record, args.max_frames, show)
    print(json.dumps(summary, indent=2))
    if args.stats:
        try:
            args.stats.parent.mkdir(parents=True, exist_ok=True)
            args.stats.write_text(json.dumps(summary, indent=2) + "\n")
        except OSError as exc:
            raise VigilError(f"--stats {args.stats}: cannot write ({exc.strerror})") from None
    return 0


def entry() -> None:
    sys.exit(run_main(lambda: main(), "vigil"))


if __name__ == "__main__":
    entry()
