"""The contracts the simulator trades and what every layer asks of one.

A contract (:data:`Spec`) is a stock/ETF (:class:`~simulator.market_types.StockSpec`), an option
(:class:`~simulator.market_types.OptionSpec`) or a combo (BAG, :class:`BagSpec`) of them; ``sec_type``
``"IND"`` marks the VIX index (:mod:`simulator.vix`). The predicates here are duck-typed so that every layer
can tell them apart without importing the layers above. ``combo.py`` has the combo rules (pricing, fills);
``encoders_base.py`` and ``combo.py`` re-export the names defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard, Union

from .market_types import OptionSpec, StockSpec
from .protocol import Field

Fields = list[Field]

Spec = Union[StockSpec, OptionSpec, "BagSpec"]
"""Any contract the simulator trades: a stock/ETF, an option, or a combo (BAG) of them."""

Mark = Callable[[Spec], float]
"""Mark price of a contract in dollars per share (option premium per share)."""


def is_option(spec: Spec) -> bool:
    """True for an OptionSpec (duck-typed on ``right``)."""
    return hasattr(spec, "right")


def is_bag(spec: Spec) -> TypeGuard[BagSpec]:
    """True for a combo (BAG) contract (duck-typed on ``sec_type == "BAG"``)."""
    return getattr(spec, "sec_type", "") == "BAG"


def sec_type(spec: Spec) -> str:
    """``"OPT"``, ``"STK"``, ``"BAG"`` or ``"IND"`` (an index, simulator/vix.py)."""
    kind = getattr(spec, "sec_type", "")
    if kind in ("BAG", "IND"):
        return str(kind)
    return "OPT" if is_option(spec) else "STK"


def multiplier(spec: Spec) -> int:
    """Contract multiplier (shares per contract): 100 for standard options, 1 for stock and combos."""
    return int(getattr(spec, "multiplier", 1) or 1)


class MarginBook(Protocol):
    """What :meth:`BagSpec.requirement` needs of the account (:class:`simulator.broker.Broker`)."""

    def margin_change(self, changes: Sequence[tuple[StockSpec | OptionSpec, float]], mark: Mark) -> float:
        """Change of the initial margin (dollars) once each ``(contract, signed quantity)`` is applied."""
        ...


BAG_CON_ID = 28812380
"""The conId TWS reports for every SMART combo contract (``localSymbol`` is the same number as text)."""


@dataclass(frozen=True)
class ComboLegSpec:
    """A resolved combo leg: the leg's contract, contracts per combo unit, and BUY/SELL as sent."""

    spec: StockSpec | OptionSpec
    ratio: int
    action: str
    exchange: str = "SMART"
    open_close: int = 0
    short_sale_slot: int = 0
    designated_location: str = ""
    exempt_code: int = -1

    @property
    def sign(self) -> int:
        """+1 for a BUY leg, −1 for a SELL leg."""
        return 1 if self.action == "BUY" else -1

    def fields(self) -> Fields:
        """The leg as TWS sends it in openOrder (and the state file keeps it): conId, ratio, action, exchange,
        openClose, shortSaleSlot, designatedLocation, exemptCode."""
        return [
            self.spec.con_id,
            self.ratio,
            self.action,
            self.exchange,
            self.open_close,
            self.short_sale_slot,
            self.designated_location,
            self.exempt_code,
        ]


@dataclass(frozen=True)
class BagSpec:
    """A combo contract (secType BAG) over legs of one underlying; prices per share (see module docstring)."""

    symbol: str
    legs: tuple[ComboLegSpec, ...]
    currency: str = "USD"
    con_id: int = BAG_CON_ID
    sec_type: str = "BAG"
    min_tick: float = 0.01

    @property
    def unit_multiplier(self) -> int:
        """Shares per combo price unit (100 when the legs are standard options)."""
        return max((multiplier(leg.spec) for leg in self.legs), default=1)

    def contract11(self, exchange: str = "SMART") -> Fields:
        """The 11-field contract block as TWS writes it for a combo (right ``?``, tradingClass ``COMB``)."""
        return [
            self.con_id,
            self.symbol,
            "BAG",
            "",
            0.0,
            "?",
            "",
            exchange,
            self.currency,
            str(self.con_id),
            "COMB",
        ]

    def legs_description(self) -> str:
        """comboLegsDescrip: ``conId|signed ratio`` per leg, comma separated (``"123|1,456|-1"``)."""
        return ",".join(f"{leg.spec.con_id}|{leg.sign * leg.ratio}" for leg in self.legs)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description (for the state file): symbol, currency and the legs by conId."""
        legs = [leg.fields() for leg in self.legs]
        return {"symbol": self.symbol, "currency": self.currency, "legs": legs}

    def requirement(self, broker: MarginBook, signed: float, price: float, mark: Mark) -> float:
        """Extra funds (dollars) to trade ``signed`` combo units (+ BUY, − SELL) at ``price`` per share: the
        change of the initial margin once every leg is applied, plus the net debit (minus a credit)."""
        changes = [(leg.spec, signed * leg.sign * leg.ratio) for leg in self.legs]
        debit = signed * price * self.unit_multiplier
        return broker.margin_change(changes, mark) + debit
