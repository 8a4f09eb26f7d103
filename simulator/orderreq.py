"""The requests the broker acts on, as parsed from the wire (``inbound.py`` parses them, ``broker.py`` and
``combo.py`` take them): a contract, a combo leg and the parts of a placeOrder request.

Value types only (no parsing here), so the broker needs nothing from the protocol layer above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import UNSET_DOUBLE


@dataclass
class ContractReq:
    """The 12 contract fields every request carries (``client.py`` Contract formatter)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    expiry: str = ""  # lastTradeDateOrContractMonth, "YYYYMMDD" or "YYYYMM"
    strike: float = 0.0  # dollars per share; 0 means "any"
    right: str = ""  # "P" / "C" / "" (any)
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""

    def describe(self) -> str:
        """Short human-readable description for log lines."""
        parts = [self.sec_type or "?", self.symbol or self.local_symbol or str(self.con_id)]
        if self.sec_type == "OPT":
            parts += [self.expiry, f"{self.strike:g}", self.right]
        return " ".join(p for p in parts if p)


@dataclass
class ComboLegReq:
    """One leg of a BAG contract as placeOrder sends it: conId, ratio (contracts per combo unit), action."""

    con_id: int
    ratio: int
    action: str  # "BUY" / "SELL"
    exchange: str = "SMART"
    open_close: int = 0
    short_sale_slot: int = 0
    designated_location: str = ""
    exempt_code: int = -1


@dataclass
class OrderReq:
    """The parts of a placeOrder request the simulator acts on (prices in dollars per share)."""

    order_id: int
    contract: ContractReq
    action: str = ""
    total_quantity: float = 0.0
    order_type: str = ""
    lmt_price: float = UNSET_DOUBLE
    aux_price: float = UNSET_DOUBLE
    tif: str = ""
    oca_group: str = ""
    account: str = ""
    open_close: str = ""
    origin: int = 0
    order_ref: str = ""
    transmit: bool = True
    parent_id: int = 0
    outside_rth: bool = False
    hidden: bool = False
    good_till_date: str = ""
    algo_strategy: str = ""
    algo_params: list[tuple[str, str]] = field(default_factory=list)
    what_if: bool = False
    combo_legs: list[ComboLegReq] = field(default_factory=list)
    order_combo_prices: list[float] = field(default_factory=list)  # per-leg limit prices (rarely used)
    smart_combo_params: list[tuple[str, str]] = field(default_factory=list)  # e.g. NonGuaranteed=1
