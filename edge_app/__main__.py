"""Vigil runtime.

    python -m edge_app run --config configs/default.yaml --source X [--record FILE] [--max-frames N] [--headless]
    python -m edge_app demo [--record FILE] [--max-frames N]
    python -m edge_app benchmark [--quick]
    python -m edge_app config [--config FILE] [--describe]
    python -m edge_app models --from DIR [--to DIR]
    python -m edge_app health [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from edge_app.cli_support import run_main
from edge_app.home import in_home, vigil_home


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edge_app", description="Vigil edge safety monitor")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (same as --log-level debug)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info",
                   help="log level (debug also shows FFmpeg's and OpenCV's own messages)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text in (("run", "run pose monitoring on a source"),
                            ("demo", "run on the default source (webcam, else the vtest.avi clip)")):
        r = sub.add_parser(name, help=help_text)
        r.add_argument("--config", type=Path, default=None, help="YAML config (default configs/default.yaml)")
        if name == "run":
            r.add_argument("--source", action="append", default=None,
                           help="[NAME=]video file, webcam index or rtsp:// URL, optionally followed by "
                                "#rotate=0|90|180|270&flip=none|horizontal|vertical (repeatable: several streams; "
                                "default: the config's sources)")
        r.add_argument("--record", type=Path, default=None, help="write the annotated video here")
        r.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
        r.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
        r.add_argument("--headless", action="store_true", help="never open a window")
        r.add_argument("--kiosk", action="store_true", help="full-screen window (a kiosk display)")
        r.add_argument("--stats", type=Path, default=None, help="write a JSON summary here at exit")
        r.add_argument("--events", type=Path, default=None, help="append events here as JSON lines")
        r.add_argument("--fast", action="store_true", help="files as fast as possible, every frame (no pacing)")
        r.add_argument("--crop", action="append", default=[], metavar="NAME=X,Y,W,H",
                       help="analyse only this region of a source (repeatable; UR Fall: right half is RGB)")
        r.add_argument("--http", default=os.environ.get("VIGIL_HTTP"), metavar="HOST:PORT|off",
                       help="operator view and /metrics address (default: $VIGIL_HTTP, else the config's server "
                            "section)")
    ev = sub.add_parser("evaluate", help="fall and fatigue alerts of the whole pipeline on labelled clips")
    ev.add_argument("--clips", type=Path, required=True, help="clip list (.json) or a folder of videos")
    ev.add_argument("--labels", type=Path, default=None, help="per-frame labels, UR Fall CSV format")
    ev.add_argument("--json", type=Path, required=True, help="write the per-clip and total results here")
    ev.add_argument("--config", type=Path, default=None, help="YAML config (default configs/default.yaml)")
    b = sub.add_parser("benchmark", help="latency report: models, peers, pipeline (reports/benchmark.md, .json, .png)")
    b.add_argument("--quick", action="store_true", help="fewer iterations and scenarios (under 2 minutes)")
    b.add_argument("--config", type=Path, default=None, help="YAML config of the pipeline scenarios")
    b.add_argument("--models-dir", type=Path, default=None, help="models folder (default: models_ir in the Vigil home)")
    b.add_argument("--out", type=Path, default=None, help="report folder (default: reports in the Vigil home)")
    m = sub.add_parser("models", help="install built models (a models_ir folder from `make models`) on this box")
    m.add_argument("--from", dest="source", type=Path, required=True, help="the built models_ir folder")
    m.add_argument("--to", type=Path, default=None, help="where to install (default: models_ir in the Vigil home)")
    h = sub.add_parser("health", help="ask a running Vigil's /health (exit 0: serving, no stream offline)")
    h.add_argument("--config", type=Path, default=None, help="the running Vigil's config (its server section)")
    h.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    u = sub.add_parser("users", help="console accounts: add (or change), list, remove")
    u.add_argument("action", choices=["add", "list", "remove"])
    u.add_argument("name", nargs="?", help="the user's name (add, remove)")
    u.add_argument("--role", choices=["viewer", "operator", "admin"], default="operator",
                   help="viewer watches; operator also acknowledges and clears; admin also edits zones and config")
    u.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (scripts) instead of asking twice")
    u.add_argument("--config", type=Path, default=None, help="the config naming the database (storage.path)")
    c = sub.add_parser("config", help="validate a config, or describe every key")
    c.add_argument("--config", type=Path, default=None)
    c.add_argument("--describe", action="store_true", help="list every key with type, default and description")
    return p


SOURCE_OPTIONS = {"rotate": int, "flip": str, "frozen_after_s": float}


def split_options(text: str) -> tuple[str, dict]:
    """``URI#key=value&key=value`` -> (URI, options) for the keys of ``SOURCE_OPTIONS`` (rotate, flip,
    frozen_after_s). A ``#`` that is part of an existing file's name is left alone. Raises VigilError on an unknown
    key or a value of the wrong type."""
    from edge_app.errors import VigilError
    from edge_app.sources.capture import redact

    uri, sep, fragment = text.rpartition("#")
    if not sep or Path(text).exists() or not re.fullmatch(r"[a-z_]+=[^&@/]*(&[a-z_]+=[^&@/]*)*", fragment):
        return text, {}  # no settings: a '#' in a file name or in a camera's password
    options: dict = {}
    for item in fragment.split("&"):
        key, eq, value = item.partition("=")
        if key not in SOURCE_OPTIONS or not eq:
            raise VigilError(f"--source {redact(text)!r}: unknown setting {item!r} after '#' (settings: "
                             f"{', '.join(f'{k}=...' for k in SOURCE_OPTIONS)}, joined with '&')")
        try:
            options[key] = SOURCE_OPTIONS[key](value)
        except ValueError:
            raise VigilError(f"--source {redact(text)!r}: {key} must be {SOURCE_OPTIONS[key].__name__}, got "
                             f"{value!r}") from None
    return uri, options


def source_spec(text: str, index: int, fast: bool, crops: dict[str, tuple[int, int, int, int]] | None = None):
    """``[NAME=]URI[#rotate=R&flip=F&frozen_after_s=S]`` -> SourceSpec; names default to stream0, stream1, ..."""
    from edge_app.sources.capture import SourceSpec

    name, sep, uri = text.partition("=")
    if not sep or "://" in name or "#" in name or not name.replace("_", "").replace("-", "").isalnum():
        name, uri = f"stream{index}", text
    uri, options = split_options(uri)
    return SourceSpec(name=name, uri=uri, realtime=not fast, lossless=fast, crop=(crops or {}).get(name), **options)


def config_spec(source, fast: bool, crops: dict[str, tuple[int, int, int, int]]):
    """A config ``sources`` entry (SourceConfig) -> SourceSpec; a --crop of the same name wins."""
    from edge_app.sources.capture import SourceSpec

    return SourceSpec(name=source.name, uri=source.uri, realtime=not fast, lossless=fast,
                      crop=crops.get(source.name, source.crop), rotate=source.rotate, flip=source.flip,
                      frozen_after_s=source.frozen_after_s)


def server_override(server, text: str | None):
    """--http HOST:PORT, :PORT or off, applied to the config's server section."""
    import dataclasses

    from edge_app.errors import VigilError

    if text is None:
        return server
    if text == "off":
        return dataclasses.replace(server, enabled=False)
    host, sep, port = text.rpartition(":")
    try:
        port_number = int(port)
    except ValueError:
        port_number = -1
    if not sep or not 0 <= port_number <= 65535:
        raise VigilError(f"--http {text!r}: expected HOST:PORT, :PORT or off")
    out = dataclasses.replace(server, enabled=True, host=host.strip("[]") or server.host, port=port_number)
    try:
        out.validate()
    except ValueError as exc:
        raise VigilError(f"--http {text!r}: {exc}") from None
    return out


def parse_crops(items: list[str]) -> dict[str, tuple[int, int, int, int]]:
    from edge_app.errors import VigilError

    crops = {}
    for item in items:
        name, _, box = item.partition("=")
        try:
            x, y, w, h = (int(v) for v in box.split(","))
        except ValueError:
            raise VigilError(f"--crop {item!r}: expected NAME=X,Y,W,H with whole numbers") from None
        crops[name] = (x, y, w, h)
    return crops


def _display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_config(args) -> int:
    """`config`: validate a config file, or describe every key."""
    from edge_app.config import Config, load_config
    from edge_app.schema import describe

    if args.describe:
        print("\n".join(describe(Config)))
        return 0
    cfg = load_config(args.config)
    print(f"{cfg.path or 'built-in defaults'}: valid")
    return 0


def cmd_evaluate(args) -> int:
    """`evaluate`: fall and fatigue alerts of the whole pipeline on labelled clips."""
    from edge_app.alert_eval import evaluate, load_clips
    from edge_app.config import load_config
    from edge_app.errors import VigilError

    clips = load_clips(args.clips, args.labels)
    try:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.touch()
    except OSError as exc:
        raise VigilError(f"--json {args.json}: cannot write ({exc.strerror})") from None
    result = evaluate(load_config(args.config), clips)
    result["clip_list"] = str(args.clips)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["totals"], indent=2))
    return 0


def cmd_health(args) -> int:
    """`health`: one line from a running Vigil's /health (the container's health check, a watchdog); exit 0 when it
    answers and no stream is offline, 1 otherwise."""
    from edge_app.config import load_config
    from edge_app.errors import VigilError
    from edge_app.web.health import check_health

    cfg = load_config(args.config)
    if not cfg.server.enabled:
        raise VigilError(f"{cfg.path or 'the built-in config'}: server.enabled is false: there is no /health to ask")
    healthy, line = check_health(cfg.server, args.timeout)
    print(line)
    return 0 if healthy else 1


def cmd_models(args) -> int:
    """`models --from DIR`: install a built models_ir (checked whole first; the previous one kept as .bak)."""
    from edge_app.models_install import install_models

    done = install_models(args.source, args.to or in_home(Path("models_ir")))
    for name, runs in sorted(done.models.items()):
        print(f"{name}: {', '.join(runs) or 'no run within its accuracy bound'}")
    print(f"installed {len(done.models)} models in {done.target}"
          + (f" (the models that were there: {done.backup})" if done.backup else ""))
    return 0


def cmd_benchmark(args) -> int:
    """`benchmark`: the latency report (reports/benchmark.md, .json, .png)."""
    from edge_app.bench import run as run_benchmark

    out = args.out or in_home(Path("reports"))
    run_benchmark(args.models_dir or in_home(Path("models_ir")), out, args.quick, config=args.config)
    print((out / "benchmark.md").read_text())
    return 0


def cmd_demo(args) -> int:
    """`demo`: the default source (a webcam, else vtest.avi served over RTSP like a camera, with the CCTV config)."""
    from edge_app.config import load_config
    from edge_app.demo_source import RtspRelay, default_source

    cfg = load_config(args.config)
    show = not args.headless and cfg.display.window and _display_available()
    source = default_source()
    if source == "0":
        return monitor(args, cfg, [source], show, args.record, args.duration)
    if args.config is None:
        cfg = load_config(vigil_home() / "configs" / "cctv.yaml")
    duration, record = args.duration, args.record
    if duration is None and args.max_frames is None and not show:
        duration = 80.0  # the clip's length; with a window the demo runs until it is closed
    if record is None and not show:
        record = in_home(Path("reports") / "demo.mp4")
    with RtspRelay(Path(source), 768, 576, 10) as relay:
        if relay.url is None:
            logging.getLogger("vigil").warning("GStreamer's RTSP server is not available: reading the file directly")
        return monitor(args, cfg, [f"vtest={relay.url}" if relay.url else source], show, record, duration)


def cmd_run(args) -> int:
    """`run`: monitor the --source streams (or the config's sources)."""
    from edge_app.config import load_config
    from edge_app.errors import VigilError

    cfg = load_config(args.config)
    if args.source:
        sources = args.source
    elif cfg.sources:
        sources = []  # the config's own entries (with their rotate, flip, crop)
    else:
        raise VigilError(f"no source: give --source, or list sources in {cfg.path or 'a config (--config)'}")
    show = not args.headless and cfg.display.window and _display_available()
    return monitor(args, cfg, sources, show, args.record, args.duration)


def monitor(args, cfg, sources: list[str], show: bool, record: Path | None, duration: float | None) -> int:
    """Build the app from the config and the command line (app.py), run it until the sources end, a limit is
    reached or a signal stops it, and print (and with --stats write) its summary."""
    from edge_app.app import build_pose_stack, build_runner, build_sinks, check_server_access, open_storage
    from edge_app.errors import VigilError

    if args.max_frames is not None and args.max_frames < 1:
        raise VigilError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.stats is not None:
        from edge_app.cli_support import check_writable

        check_writable("--stats", args.stats)
    crops = parse_crops(args.crop)
    if sources:
        specs = [source_spec(text, i, args.fast, crops) for i, text in enumerate(sources)]
    else:
        specs = [config_spec(s, args.fast, crops) for s in cfg.sources]
    unknown = set(crops) - {s.name for s in specs}
    if unknown:
        raise VigilError(f"--crop names no source: {', '.join(sorted(unknown))} "
                         f"(sources: {', '.join(s.name for s in specs)})")
    db = open_storage(cfg)
    server = server_override(cfg.server, args.http)
    check_server_access(server, db)  # before the models load: a refusal is said at once
    runner = build_runner(cfg, build_pose_stack(cfg, len(specs)), specs, record=record, show=show,
                          kiosk=args.kiosk or cfg.display.kiosk, events=args.events, max_frames=args.max_frames,
                          duration=duration, server=server,
                          sinks=build_sinks(cfg, db), catch_signals=True, db=db)
    summary = runner.run()
    print(json.dumps(summary, indent=2))
    if args.stats:
        try:
            args.stats.parent.mkdir(parents=True, exist_ok=True)
            args.stats.write_text(json.dumps(summary, indent=2) + "\n")
        except OSError as exc:
            raise VigilError(f"--stats {args.stats}: cannot write ({exc.strerror})") from None
    return 0


def cmd_users(args) -> int:
    """`users add NAME --role R` (password asked twice, or --password-stdin), `users list`, `users remove NAME`:
    console accounts in the box's database; a running Vigil sees the change at once."""
    import getpass

    from edge_app.app import open_storage
    from edge_app.config import load_config
    from edge_app.errors import VigilError
    from edge_app.web.accounts import Accounts

    cfg = load_config(args.config)
    if args.action != "list" and not args.name:
        raise VigilError(f"users {args.action}: give the user's name")
    accounts = Accounts(open_storage(cfg))
    if args.action == "list":
        for name, role in accounts.users():
            print(f"{name}\t{role}")
        return 0
    if args.action == "remove":
        accounts.remove(args.name)
        print(f"removed {args.name} (their sessions ended)")
        return 0
    Accounts.check(args.name, role=args.role)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise VigilError("the two passwords differ: nothing changed")
    accounts.add(args.name, args.role, password)
    print(f"{args.name} is a console {args.role} ({cfg.storage.path})")
    return 0


HANDLERS = {"config": cmd_config, "evaluate": cmd_evaluate, "benchmark": cmd_benchmark, "demo": cmd_demo,
            "run": cmd_run, "models": cmd_models, "health": cmd_health, "users": cmd_users}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, set up logging, and hand over to the subcommand's handler; returns the exit code
    (user errors are VigilError, turned into one line and exit 2 by cli_support.run_main)."""
    args = _parser().parse_args(argv)
    debug = args.verbose or args.log_level == "debug"
    logging.basicConfig(level=logging.DEBUG if debug else logging.getLevelName(args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from edge_app.sources.reader import library_logging

    library_logging(debug)
    return HANDLERS[args.command](args)


def entry() -> None:
    sys.exit(run_main(lambda: main(), "vigil"))


if __name__ == "__main__":
    entry()
