"""Built-in TWS simulator: protocol server, market model and shipped market data.

The modules form layers; a module imports only from its own layer or the layers below it (imports inside
functions and under ``TYPE_CHECKING`` included), and no two modules import each other, directly or through
others. ``lint-imports`` checks both (``[tool.importlinter]`` in ``pyproject.toml``). Lowest first:

1. **Wire primitives** — ``protocol``: framing, field encoding, message ids and TWS's unset values. It
   imports nothing of the simulator; the layers above share its value conventions (``UNSET_DOUBLE``,
   ``Field``).
2. **Market model** — ``paths`` (price paths, session table), ``listing`` (calendar, expiries, strikes),
   ``clock`` (simulated time, trading hours, TWS time strings), ``pricing``, ``american``, ``surface``,
   ``quotes``, ``market_types``, ``contracts`` (the contract kinds, combo contracts included, and their
   predicates), ``overrides``, ``market``, ``vix``, ``history`` (historical bars and volatility series)
   and ``fitting`` (surface fits, used by the offline tools).
3. **Broker / ledger** — ``orderreq`` (the parsed requests the broker takes), ``ledger`` (orders,
   executions, positions, commissions), ``broker`` (the account), ``combo`` (combo orders: legs, pricing,
   fills) and ``state`` (the state file).
4. **Protocol encoders** — ``encoders_base``, ``encoders_account``, ``encoders_order``, ``encoders`` (the
   server → client messages), ``openorder``, ``inbound`` (client → server parsers) and ``limits`` (IB's
   message-rate and pacing rules).
5. **Session services** — what runs for a connected client: ``ports`` (what they need of the server, as
   ``typing.Protocol`` classes, plus ``ServerConfig``), ``marketdata``, ``accounts`` (request handlers),
   ``pnl``, ``summary``, ``reports`` (pushes about orders and the account), ``fills``, ``expiry`` and
   ``faults``.
6. **Server and control** — ``supervisor`` (clock, limits, faults, persistence around the protocol),
   ``server`` (connections, dispatch, background loops), ``control`` (the test-control interface),
   ``runopts`` and ``__main__``.
7. **Offline tools** — ``build_data`` and ``calibrate`` rebuild the shipped data; nothing else imports them.
"""
