"""Simulated account: cash, positions, average cost, realized P&L, orders, executions and commissions.

Pure bookkeeping, no I/O: the server asks it to place/modify/cancel orders and to fill them against a quote,
and encodes what it returns. Conventions follow TWS:

* prices and ``lmt_price`` are dollars per share (an option premium is quoted per share);
* ``Position.avg_cost`` is dollars per share for stock and dollars per CONTRACT (price × multiplier) for
  options, commissions included;
* cash moves by price × quantity × multiplier ∓ commission.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from .clock import tws_time
from .contracts import Spec, is_bag, is_option, multiplier
from .ledger import (  # re-exported: the rest of the simulator imports them from here
    Mark,
    OrderRejected,
    Position,
    SimExecution,
    SimOrder,
    commission_for,
)
from .protocol import UNSET_DOUBLE

if TYPE_CHECKING:
    from .market_types import OptionSpec, StockSpec
    from .orderreq import OrderReq


class Broker:
    """The single simulated account shared by all client connections."""

    def __init__(
        self, account: str = "DU1234567", cash: float = 100_000.0, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.account = account
        self.cash = float(cash)
        self.realized_pnl = 0.0
        self.positions: dict[int, Position] = {}
        self.orders: dict[tuple[int, int], SimOrder] = {}
        self.executions: list[SimExecution] = []
        self._clock = clock or datetime.now
        start = int(time.time())
        self._perm_ids = itertools.count(1_000_000_000 + (start % 100_000) * 1000)
        self._exec_prefix = f"0000{start & 0xFFFF:04x}"
        self._exec_seq = itertools.count((start >> 4) & 0xFFFFFF00)
        self.order_id_floor: dict[int, int] = {}  # client id → highest order id used before a restart

    # ----------------------------------------------------------------- orders
    def next_order_id(self, client_id: int) -> int:
        """Next valid order id for a client: one past the highest it has used (1 when none)."""
        ids = [oid for (cid, oid) in self.orders if cid == client_id]
        return max(max(ids, default=0), self.order_id_floor.get(client_id, 0)) + 1

    def next_exec_id(self) -> str:
        """A new execution id in TWS's format (``0000e0d5.6574a1b2.01.01``)."""
        return f"{self._exec_prefix}.{next(self._exec_seq):08x}.01.01"

    def open_orders(self, client_id: int | None = None) -> list[SimOrder]:
        """Working orders, optionally of one client only."""
        return [
            o for o in self.orders.values() if o.working and (client_id is None or o.client_id == client_id)
        ]

    def place(self, client_id: int, req: OrderReq, spec: Spec, mark: Mark) -> tuple[SimOrder, bool]:
        """Create or modify an order; returns (order, is_modification). Raises OrderRejected."""
        if req.action not in ("BUY", "SELL"):
            raise OrderRejected(201, f"Order rejected - reason:Invalid action '{req.action}'")
        if req.order_type not in ("LMT", "MKT"):
            raise OrderRejected(
                10_052,
                f"Order rejected - reason:Order type {req.order_type} is not supported by the simulator",
            )
        if req.total_quantity <= 0:
            raise OrderRejected(201, "Order rejected - reason:The order size must be positive")
        if req.order_type == "LMT" and (
            req.lmt_price == UNSET_DOUBLE or (req.lmt_price <= 0 and not is_bag(spec))  # combos: credit < 0
        ):
            raise OrderRejected(201, "Order rejected - reason:A limit price is required for LMT orders")
        if req.account and req.account != self.account:
            raise OrderRejected(201, f"Order rejected - reason:Unknown account {req.account}")
        existing = self.orders.get((client_id, req.order_id))
        if existing is not None and existing.status == "Filled":
            raise OrderRejected(104, "Can't modify a filled order")
        if existing is not None and not existing.working:
            raise OrderRejected(103, "Duplicate order id")
        if existing is not None and existing.spec != spec:  # another contract, or other combo legs
            raise OrderRejected(105, "Order being modified does not match original order")
        price = req.lmt_price if req.order_type == "LMT" else mark(spec)
        signed = req.total_quantity if req.action == "BUY" else -req.total_quantity
        need = self.requirement(spec, signed, price, mark)
        reserved = sum(
            self.requirement(
                o.spec,
                o.remaining if o.action == "BUY" else -o.remaining,
                o.lmt_price if o.order_type == "LMT" else mark(o.spec),
                mark,
            )
            for o in self.open_orders()
            if o is not existing
        )
        available = self.available_funds(mark) - reserved
        if need > 0 and need > available + 1e-6:
            ewl = self.net_liquidation(mark)  # TWS's wording: equity with loan vs. the margin after the order
            raise OrderRejected(
                201,
                "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION "
                f"YOUR EQUITY WITH LOAN VALUE [{ewl:.2f} USD] MUST EXCEED THE INITIAL MARGIN "
                f"[{ewl - available + need:.2f} USD]",
            )
        if existing is not None:
            existing.quantity = req.total_quantity
            existing.lmt_price = req.lmt_price
            existing.order_type = req.order_type
            existing.tif = req.tif or existing.tif
            existing.order_ref = req.order_ref or existing.order_ref
            existing.outside_rth = req.outside_rth
            existing.placed_at = time.monotonic()
            return existing, True
        order = SimOrder(
            order_id=req.order_id,
            client_id=client_id,
            perm_id=next(self._perm_ids),
            spec=spec,
            action=req.action,
            quantity=req.total_quantity,
            order_type=req.order_type,
            lmt_price=req.lmt_price,
            account=self.account,
            aux_price=req.aux_price,
            tif=req.tif or "DAY",
            oca_group=req.oca_group,
            open_close=req.open_close,
            origin=req.origin,
            order_ref=req.order_ref,
            outside_rth=req.outside_rth,
            hidden=req.hidden,
            transmit=req.transmit,
            parent_id=req.parent_id,
            good_till_date=req.good_till_date,
            algo_strategy=req.algo_strategy,
            algo_params=list(req.algo_params),
        )
        self.orders[(client_id, req.order_id)] = order
        return order, False

    def cancel(self, client_id: int, order_id: int) -> SimOrder | None:
        """Cancel a working order; returns it, or None when unknown or already done."""
        order = self.orders.get((client_id, order_id))
        if order is None or not order.working:
            return None
        self.finish(order, "Cancelled")
        return order

    def finish(self, order: SimOrder, status: str) -> None:
        """Set a final status (``Filled``/``Cancelled``) and stamp its time (for reqCompletedOrders)."""
        order.status = status
        order.completed_time = tws_time(self._clock())

    def completed_orders(self, day: date) -> list[SimOrder]:
        """Orders filled or cancelled on ``day`` (US/Eastern), in completion order."""
        key = day.strftime("%Y%m%d")
        done = [o for o in self.orders.values() if not o.working and o.completed_time[:8] == key]
        return sorted(done, key=lambda o: (o.completed_time, o.perm_id))

    # ------------------------------------------------------------------ fills
    @staticmethod
    def fill_price(order: SimOrder, bid: float, ask: float) -> float | None:
        """Price at which ``order`` fills against the quote now, or None when not marketable.

        SELL LMT fills once limit ≤ mid + 0.2 × half-spread (at max(limit, bid)); BUY LMT once
        limit ≥ mid − 0.2 × half-spread (at min(limit, ask)); MKT at the touch.
        """
        if bid <= 0 and ask <= 0:
            return None
        if bid <= 0:
            bid = ask
        if ask <= 0:
            ask = bid
        mid = (bid + ask) / 2
        half = (ask - bid) / 2
        if order.order_type == "MKT":
            return ask if order.action == "BUY" else bid
        if order.action == "SELL":
            return max(order.lmt_price, bid) if order.lmt_price <= mid + 0.2 * half + 1e-9 else None
        return min(order.lmt_price, ask) if order.lmt_price >= mid - 0.2 * half - 1e-9 else None

    def fill(
        self, order: SimOrder, price: float, exchange: str = "SMART", qty: float | None = None
    ) -> SimExecution:
        """Fill ``qty`` (default: all that remains) of ``order`` at ``price``; updates cash, position, P&L.

        A partial fill leaves the order ``Submitted`` with ``filled``/``remaining`` updated. Commission is the
        schedule applied to the whole filled quantity minus what earlier fills of the order already paid, so
        the per-order minimum is charged once however the order fills.
        """
        qty = order.remaining if qty is None else min(qty, order.remaining)
        filled_value = order.avg_fill_price * order.filled + price * qty
        total = commission_for(order.spec, order.filled + qty, filled_value / (order.filled + qty))
        comm = round(max(0.0, total - order.commission), 4)
        mult = multiplier(order.spec)
        signed = qty if order.action == "BUY" else -qty
        realized = self._apply_position(order.spec, signed, price, comm)
        self.cash += (-signed) * price * mult - comm
        prev_value = order.avg_fill_price * order.filled
        order.filled += qty
        order.avg_fill_price = (prev_value + price * qty) / order.filled
        order.last_fill_price = price
        order.commission += comm
        if order.remaining <= 1e-9:
            self.finish(order, "Filled")
        else:
            order.status = "Submitted"
        execution = SimExecution(
            exec_id=self.next_exec_id(),
            order=order,
            time=self._clock(),
            side="BOT" if order.action == "BUY" else "SLD",
            shares=qty,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            commission=comm,
            realized_pnl=realized,
            exchange=exchange,
        )
        self.executions.append(execution)
        return execution

    def _apply_position(self, spec: Spec, signed: float, price: float, comm: float) -> float | None:
        """Update the position by ``signed`` units at ``price``; return realized P&L (None when opening)."""
        mult = multiplier(spec)
        pos = self.positions.setdefault(spec.con_id, Position(spec))
        unit = price * mult  # dollars per share (STK) or per contract (OPT)
        per_unit_comm = comm / abs(signed)
        realized: float | None = None
        closing = min(abs(signed), abs(pos.qty)) if pos.qty * signed < 0 else 0.0
        if closing:
            if pos.qty > 0:  # selling long units
                pnl = closing * (unit - pos.avg_cost) - per_unit_comm * closing
            else:  # buying back short units
                pnl = closing * (pos.avg_cost - unit) - per_unit_comm * closing
            realized = pnl
            pos.realized_pnl += pnl
            self.realized_pnl += pnl
            pos.qty += closing if signed > 0 else -closing
        opening = abs(signed) - closing
        if opening > 0:
            cost = unit + per_unit_comm if signed > 0 else unit - per_unit_comm
            total = abs(pos.qty) * pos.avg_cost + opening * cost
            pos.qty += opening if signed > 0 else -opening
            pos.avg_cost = total / abs(pos.qty)
        if abs(pos.qty) < 1e-9:
            pos.qty = 0.0
            pos.avg_cost = 0.0
        return realized

    # ---------------------------------------------------------------- margins
    def requirement(self, spec: Spec, signed: float, price: float, mark: Mark) -> float:
        """Extra funds (dollars) needed to trade ``signed`` units at ``price``; ≤ 0 when reducing.

        Cash account rules: buying costs price × qty × multiplier; a short put is cash-secured
        (strike × 100 × qty − premium); a short call must be covered by shares, otherwise it needs the
        underlying's value; selling stock short needs its full value.
        """
        if is_bag(spec):
            return spec.requirement(self, signed, price, mark)
        pos = self.positions.get(spec.con_id)
        held = pos.qty if pos else 0.0
        if held * signed < 0:  # reducing first
            reduce = min(abs(held), abs(signed))
            signed = signed + reduce if signed < 0 else signed - reduce
        if abs(signed) < 1e-9:
            return 0.0
        mult = multiplier(spec)
        if signed > 0:
            return signed * price * mult
        qty = -signed
        if not is_option(spec):
            return qty * price
        right = getattr(spec, "right", "P")
        strike = float(getattr(spec, "strike", 0.0))
        if right == "P":
            return qty * (strike * mult - price * mult)
        covered = self._shares_free_for_calls(spec)
        uncovered = max(0.0, qty - covered)
        und = self._underlying_mark(spec, mark)
        return uncovered * und * mult

    def margin_change(self, changes: Sequence[tuple[StockSpec | OptionSpec, float]], mark: Mark) -> float:
        """Change of the initial margin (dollars) once each ``(contract, signed quantity)`` is applied to a
        copy of the positions (a combo's legs, :meth:`simulator.contracts.BagSpec.requirement`)."""
        after = Broker(self.account, 0.0)
        after.positions = {cid: Position(p.spec, p.qty, p.avg_cost) for cid, p in self.positions.items()}
        for spec, qty in changes:
            pos = after.positions.setdefault(spec.con_id, Position(spec))
            pos.qty += qty
        return after.init_margin(mark) - self.init_margin(mark)

    def _shares_free_for_calls(self, spec: Spec) -> float:
        """Number of call contracts the long stock of the underlying can still cover."""
        symbol = spec.symbol
        shares = sum(
            p.qty for p in self.positions.values() if not is_option(p.spec) and p.spec.symbol == symbol
        )
        short_calls = sum(
            -p.qty
            for p in self.positions.values()
            if is_option(p.spec)
            and p.spec.symbol == symbol
            and p.qty < 0
            and getattr(p.spec, "right", "") == "C"
        )
        return max(0.0, shares / multiplier(spec) - short_calls)

    def _underlying_mark(self, spec: Spec, mark: Mark) -> float:
        for p in self.positions.values():
            if not is_option(p.spec) and p.spec.symbol == spec.symbol:
                return mark(p.spec)
        return float(getattr(spec, "strike", 0.0))

    def init_margin(self, mark: Mark) -> float:
        """Initial margin (dollars): long stock 100 %, short puts strike × 100 × qty, naked calls the
        underlying's value (cash-account style)."""
        total = 0.0
        for p in self.positions.values():
            if p.qty == 0:
                continue
            if not is_option(p.spec):
                total += abs(p.qty) * mark(p.spec)
            elif p.qty < 0:
                mult = multiplier(p.spec)
                if getattr(p.spec, "right", "") == "P":
                    total += -p.qty * float(getattr(p.spec, "strike", 0.0)) * mult
        shares_by_symbol: dict[str, float] = {}
        for p in self.positions.values():
            if not is_option(p.spec):
                shares_by_symbol[p.spec.symbol] = shares_by_symbol.get(p.spec.symbol, 0.0) + p.qty
        for p in self.positions.values():
            if is_option(p.spec) and p.qty < 0 and getattr(p.spec, "right", "") == "C":
                mult = multiplier(p.spec)
                cover = max(0.0, shares_by_symbol.get(p.spec.symbol, 0.0)) / mult
                naked = max(0.0, -p.qty - cover)
                shares_by_symbol[p.spec.symbol] = max(
                    0.0, shares_by_symbol.get(p.spec.symbol, 0.0) + p.qty * mult
                )
                total += naked * float(getattr(p.spec, "strike", 0.0)) * mult
        return total

    def gross_position_value(self, mark: Mark) -> float:
        """Sum of |market value| of all positions (dollars)."""
        return sum(abs(p.qty) * mark(p.spec) * multiplier(p.spec) for p in self.positions.values())

    def net_liquidation(self, mark: Mark) -> float:
        """Cash plus signed market value of all positions (dollars)."""
        return self.cash + sum(p.qty * mark(p.spec) * multiplier(p.spec) for p in self.positions.values())

    def available_funds(self, mark: Mark) -> float:
        """Net liquidation minus initial margin (dollars)."""
        return self.net_liquidation(mark) - self.init_margin(mark)

    def unrealized_pnl(self, mark: Mark) -> float:
        """Sum over positions of qty × mark × multiplier − qty × avgCost (dollars)."""
        return sum(
            p.qty * mark(p.spec) * multiplier(p.spec) - p.qty * p.avg_cost for p in self.positions.values()
        )

    def account_values(self, mark: Mark) -> list[tuple[str, str, str]]:
        """(key, value, currency) rows as TWS sends them via accountValue, in USD and BASE."""
        nlv = self.net_liquidation(mark)
        margin = self.init_margin(mark)
        avail = nlv - margin
        gross = self.gross_position_value(mark)
        stock = sum(p.qty * mark(p.spec) for p in self.positions.values() if not is_option(p.spec))
        opts = sum(
            p.qty * mark(p.spec) * multiplier(p.spec) for p in self.positions.values() if is_option(p.spec)
        )
        unreal = self.unrealized_pnl(mark)
        money = {
            "NetLiquidation": nlv,
            "TotalCashValue": self.cash,
            "CashBalance": self.cash,
            "SettledCash": self.cash,
            "AvailableFunds": avail,
            "ExcessLiquidity": avail,
            "BuyingPower": max(0.0, avail),
            "EquityWithLoanValue": nlv,
            "FullInitMarginReq": margin,
            "FullMaintMarginReq": margin,
            "InitMarginReq": margin,
            "MaintMarginReq": margin,
            "FullAvailableFunds": avail,
            "FullExcessLiquidity": avail,
            "GrossPositionValue": gross,
            "StockMarketValue": stock,
            "OptionMarketValue": opts,
            "UnrealizedPnL": unreal,
            "RealizedPnL": self.realized_pnl,
        }
        rows: list[tuple[str, str, str]] = [
            ("AccountCode", self.account, ""),
            ("AccountType", "INDIVIDUAL", ""),
            ("Currency", "USD", "USD"),
            ("Currency", "BASE", "BASE"),
            ("Cushion", f"{(avail / nlv) if nlv else 0:.6f}", ""),
            ("ExchangeRate", "1.00", "USD"),
            ("ExchangeRate", "1.00", "BASE"),
        ]
        for key, value in money.items():
            rows.append((key, f"{value:.2f}", "USD"))
            if key in (
                "TotalCashValue",
                "CashBalance",
                "NetLiquidation",
                "UnrealizedPnL",
                "RealizedPnL",
                "StockMarketValue",
                "OptionMarketValue",
            ):
                rows.append((key, f"{value:.2f}", "BASE"))
        return rows
