"""Options of ``python -m simulator``: clock, trading hours, IB's limits, state file, control interface."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import state as state_file
from .clock import SimClock, parse_time
from .supervisor import SimOptions


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the options (see the README's simulator section)."""
    p.add_argument(
        "--start",
        default=None,
        help="simulated start time, e.g. 2026-12-14T09:30 (US/Eastern unless an offset is given); "
        "default: now (or the clock saved in --state)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per wall-clock second (default 1: real time; e.g. 60 or 3600)",
    )
    p.add_argument(
        "--hours",
        choices=("rth", "always"),
        default="rth",
        help="rth (default): orders fill only in regular trading hours of the NYSE calendar; "
        "always: fills around the clock (demos, tests)",
    )
    p.add_argument(
        "--no-limits",
        action="store_true",
        help="do not enforce IB's 50 messages/s (error 100) and historical pacing (162, 322) limits",
    )
    p.add_argument(
        "--early-assignment",
        action="store_true",
        help="assign deep ITM short calls before an ex-dividend date (needs dividend dates in the data)",
    )
    p.add_argument("--state", default=None, help="JSON file the account is loaded from and saved to")
    p.add_argument(
        "--control-port",
        type=int,
        default=None,
        help="serve the HTTP/JSON control interface on 127.0.0.1:PORT (0 picks a free port)",
    )


def check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Validate the options (exits with a usage error)."""
    if args.speed is not None and args.speed <= 0:
        p.error("--speed must be positive")
    if args.start is not None:
        try:
            parse_time(args.start)
        except ValueError:
            p.error(f"--start: not an ISO time: {args.start!r}")


def load_saved(args: argparse.Namespace) -> dict[str, Any] | None:
    """The state saved in ``--state``, if any."""
    return state_file.load(Path(args.state)) if args.state else None


def make_clock(args: argparse.Namespace, saved: dict[str, Any] | None) -> SimClock:
    """--start/--speed win; otherwise a saved simulated clock resumes where it stopped."""
    start = parse_time(args.start) if args.start else None
    speed = args.speed
    if saved is not None and not saved.get("realtime", True):
        if start is None:
            start = parse_time(saved["clock"])
        if speed is None:
            speed = float(saved.get("speed", 1.0))
    return SimClock(start, speed if speed is not None else 1.0)


def make_options(args: argparse.Namespace) -> SimOptions:
    """Behaviour switches for the supervisor."""
    return SimOptions(
        hours=args.hours,
        limits=not args.no_limits,
        early_assignment=args.early_assignment,
        state_path=Path(args.state) if args.state else None,
    )
