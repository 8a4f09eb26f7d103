"""What the connection manager remembers about one TWS session: the data farms' health (IB messages
2103–2108, 2157, 2158), TWS's own link to IB (1100 / 1101 / 1102) and the market-data streams the
process asked for, so that they can be requested again after 1101 or a reconnect.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from ib_async import IB, Contract, Ticker

from shared.pacing import LineBudget, LineBudgetExceeded

#: Farm notices: code → (kind of farm, status). TWS sends them with reqId −1, the farm's name after ":".
FARM_CODES: dict[int, tuple[str, str]] = {
    2103: ("market data", "broken"),
    2104: ("market data", "ok"),
    2105: ("historical data", "broken"),
    2106: ("historical data", "ok"),
    2107: ("historical data", "inactive"),
    2108: ("market data", "inactive"),
    2157: ("sec-def", "broken"),
    2158: ("sec-def", "ok"),
}
#: TWS ↔ IB connectivity: lost, restored with data lost (resubscribe), restored with data kept.
LINK_LOST, LINK_RESTORED_DATA_LOST, LINK_RESTORED = 1100, 1101, 1102


class FarmStatus:
    """Health of TWS's data farms and of its link to IB, for one session.

    :meth:`degraded_reason` is ``None`` while everything is fine, else a short text for the heartbeat.
    """

    def __init__(self) -> None:
        self.farms: dict[str, tuple[str, str]] = {}  # farm name → (kind, "ok" | "broken" | "inactive")
        self.link_lost = False

    def reset(self) -> None:
        """A new session: TWS reports every farm again right after the handshake."""
        self.farms.clear()
        self.link_lost = False

    def update(self, code: int, message: str) -> bool:
        """Record a farm or link notice; ``True`` when ``code`` was one of them."""
        if code in FARM_CODES:
            kind, status = FARM_CODES[code]
            name = message.rsplit(":", 1)[-1].strip() if ":" in message else kind
            self.farms[name or kind] = (kind, status)
            return True
        if code == LINK_LOST:
            self.link_lost = True
            return True
        if code in (LINK_RESTORED_DATA_LOST, LINK_RESTORED):
            self.link_lost = False
            return True
        return False

    def broken(self) -> list[str]:
        """``"market data farm usfarm"`` for every farm reported broken."""
        return [f"{kind} farm {name}" for name, (kind, status) in self.farms.items() if status == "broken"]

    def degraded_reason(self) -> str | None:
        """Why the connection is degraded, or ``None``."""
        parts = ["TWS lost its connection to IB (1100)"] if self.link_lost else []
        if broken := self.broken():
            parts.append("broken: " + ", ".join(broken))
        return "; ".join(parts) or None


@dataclass
class Subscription:
    """A market-data stream the process wants while it runs (``ticker`` is replaced on re-request)."""

    contract: Contract
    generic_ticks: str
    ticker: Ticker


class Subscriptions:
    """The process's standing ``reqMktData`` streams, each holding one line of the :class:`LineBudget`."""

    def __init__(self, ib: IB, lines: LineBudget) -> None:
        self.ib = ib
        self.lines = lines
        self._subs: dict[Hashable, Subscription] = {}

    @staticmethod
    def _key(contract: Contract) -> Hashable:
        return contract.conId or hash(contract)

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe(self, contract: Contract, generic_ticks: str = "") -> Ticker:
        """Stream ``contract`` (qualified, with a conId) and remember it; return its :class:`Ticker`.

        Asking again for a contract already streamed returns its current ticker without a request.
        Raises :class:`LineBudgetExceeded` when the process has no free line.
        """
        sub = self._subs.get(self._key(contract))
        if sub is not None:
            return sub.ticker
        if not self.lines.try_acquire():
            raise LineBudgetExceeded(
                f"all {self.lines.capacity} market-data lines of the {self.lines.name} are in use"
            )
        try:
            ticker = self.ib.reqMktData(contract, generic_ticks, False, False)
        except BaseException:
            self.lines.release()
            raise
        self._subs[self._key(contract)] = Subscription(contract, generic_ticks, ticker)
        return ticker

    def unsubscribe(self, contract: Contract) -> None:
        """Stop streaming ``contract`` and free its line (a no-op for a contract not streamed)."""
        sub = self._subs.pop(self._key(contract), None)
        if sub is None:
            return
        if self.ib.isConnected():
            self.ib.cancelMktData(sub.contract)
        self.lines.release()

    def ticker(self, contract: Contract) -> Ticker | None:
        """The current ticker of a streamed contract (a new object after a reconnect), else ``None``."""
        sub = self._subs.get(self._key(contract))
        return sub.ticker if sub is not None else None

    def request_all(self, same_session: bool) -> int:
        """Request every stream again; return how many.

        ``same_session`` (after 1101): cancel the old request first, so TWS frees its line and the
        :class:`Ticker` object stays the same. After a reconnect the old session is gone: new tickers.
        """
        for sub in self._subs.values():
            if same_session:
                self.ib.cancelMktData(sub.contract)
            sub.ticker = self.ib.reqMktData(sub.contract, sub.generic_ticks, False, False)
        return len(self._subs)

    def clear(self) -> None:
        """Cancel every stream (at stop) and free the lines."""
        for sub in list(self._subs.values()):
            self.unsubscribe(sub.contract)
