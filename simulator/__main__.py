"""``python -m simulator``: run the built-in TWS simulator.

Prints exactly one line to stdout once listening, e.g.
``thetawheel simulator: account DU1234567 listening on 127.0.0.1:7497 (server versions 157-178)``;
logs go to stderr. Exits 0 on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from typing import Any

from . import runopts
from .clock import SimClock
from .control import ControlServer
from .protocol import MAX_SERVER_VERSION, MIN_SERVER_VERSION
from .server import ServerConfig, SimServer

log = logging.getLogger("simulator")

MARKET_FACTORY_ENV = "THETAWHEEL_SIM_MARKET"
"""Optional ``module:callable`` building the market instead of ``simulator.market.Market`` (tests only)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m simulator", description="thetawheel TWS API simulator")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7497, help="listen port; 0 picks a free one")
    p.add_argument("--account", default="DU1234567", help="simulated account code")
    p.add_argument(
        "--max-version",
        type=int,
        default=MAX_SERVER_VERSION,
        help=f"highest server version to negotiate ({MIN_SERVER_VERSION}..{MAX_SERVER_VERSION})",
    )
    p.add_argument("--seed", type=int, default=7, help="market model seed")
    p.add_argument("--fill-delay", type=float, default=1.0, help="seconds an order rests before it can fill")
    p.add_argument("--cash", type=float, default=100_000.0, help="starting cash in USD")
    p.add_argument("--tick-interval", type=float, default=1.0, help="seconds between streamed tick updates")
    p.add_argument(
        "--account-interval",
        type=float,
        default=15.0,
        help="seconds between periodic account/portfolio pushes",
    )
    p.add_argument(
        "--partial-fills",
        type=float,
        default=0.0,
        help="probability (0..1) that a fill takes only half of the units it could (default 0)",
    )
    p.add_argument("--data-dir", default=None, help="market data directory (default: shipped data)")
    p.add_argument("--log-level", default=os.environ.get("SIM_LOG_LEVEL", "INFO"))
    runopts.add_arguments(p)  # --start --speed --hours --no-limits --early-assignment --state --control-port
    args = p.parse_args(argv)
    runopts.check(p, args)
    if not MIN_SERVER_VERSION <= args.max_version <= MAX_SERVER_VERSION:
        p.error(f"--max-version must be within {MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}")
    return args


def build_market(args: argparse.Namespace, clock: SimClock | None = None) -> Any:
    """Instantiate the market model (``simulator.market.Market`` unless overridden for tests)."""
    factory_path = os.environ.get(MARKET_FACTORY_ENV)
    if factory_path:
        module_name, _, attr = factory_path.partition(":")
        factory = getattr(importlib.import_module(module_name), attr or "Market")
        return factory(seed=args.seed)
    from pathlib import Path

    from .market import Market

    return Market(
        Path(args.data_dir) if args.data_dir else None, seed=args.seed, clock=clock.now if clock else None
    )


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGTERM/SIGINT."""
    saved = runopts.load_saved(args)
    clock = runopts.make_clock(args, saved)
    market = build_market(args, clock)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        account=args.account,
        max_version=args.max_version,
        cash=args.cash,
        fill_delay=args.fill_delay,
        tick_interval=args.tick_interval,
        account_interval=args.account_interval,
        partial_fills=args.partial_fills,
    )
    server = SimServer(market, config, clock, runopts.make_options(args))
    if saved is not None:
        server.supervisor.restore(saved)
    host, port = await server.start()
    control = ControlServer(server.supervisor) if args.control_port is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"thetawheel simulator: account {config.account} listening on {host}:{port} "
        f"(server versions {MIN_SERVER_VERSION}-{config.max_version})",
        flush=True,
    )
    if control is not None:
        chost, cport = await control.start("127.0.0.1", args.control_port)
        print(f"thetawheel simulator: control on {chost}:{cport}", flush=True)
    await stop.wait()
    log.info("shutting down")
    if control is not None:
        await control.close()
    await server.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
