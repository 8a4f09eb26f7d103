"""reqCompletedOrders: the day's filled and cancelled orders as completedOrder messages, then the End.

The encoder is checked by decoding its output with ib_async's real Decoder at every server version (and the
decoder must need every field sent); the live test places a filled and a cancelled order over TCP.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from golden import AsyncRecorder, sample_order
from ib_async import IB, LimitOrder, MarketOrder, Stock
from ib_async.decoder import Decoder

from simulator.broker import Broker
from simulator.inbound import ContractReq, OrderReq
from simulator.market import Market, StockSpec
from simulator.openorder import completed_order
from simulator.protocol import encode, split_fields

Sim = Any
VERSIONS = [157, 163, 166, 170, 176, 177, 178]


def _wire(fields: list[Any]) -> list[str]:
    return split_fields(encode(fields)[4:])


@pytest.fixture(scope="module")
def ko() -> StockSpec:
    spec = Market(seed=7).stock("KO")
    assert spec is not None
    return spec


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order_decodes_field_for_field(version: int, ko: StockSpec) -> None:
    order = sample_order(ko, status="Filled", filled=2.0, completed_time="20261203 10:31:02 US/Eastern")
    rec = AsyncRecorder()
    Decoder(rec, version).completedOrder(_wire(completed_order(order, version)))
    [(name, (c, o, st))] = rec.calls
    assert name == "completedOrder"
    assert (c.conId, c.symbol, c.secType) == (ko.con_id, "KO", "STK")
    assert (o.action, o.totalQuantity, o.orderType, o.lmtPrice, o.tif) == ("SELL", 2.0, "LMT", 1.37, "GTC")
    assert (o.orderRef, o.permId, o.account, o.filledQuantity) == ("intent-abc", 1_234_567, "DU1234567", 2.0)
    assert o.algoStrategy == "Adaptive" and o.algoParams[0].value == "Normal"
    assert (st.status, st.completedTime) == ("Filled", "20261203 10:31:02 US/Eastern")
    assert st.completedStatus.startswith("Filled")
    # no trailing extra fields: the decoder needs the last one
    with pytest.raises((ValueError, IndexError)):
        Decoder(AsyncRecorder(), version).completedOrder(_wire(completed_order(order, version))[:-1])


def test_broker_lists_only_the_days_finished_orders(ko: StockSpec) -> None:
    now = [datetime(2026, 12, 3, 15, 0, tzinfo=UTC)]
    broker = Broker(clock=lambda: now[0])

    def place(oid: int) -> Any:
        return broker.place(1, OrderReq(oid, ContractReq(), "BUY", 100, "LMT", 60.0), ko, lambda s: 60.0)[0]

    filled, cancelled, working, yesterday = place(1), place(2), place(3), place(4)
    now[0] = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    broker.cancel(1, yesterday.order_id)
    now[0] = datetime(2026, 12, 3, 15, 1, tzinfo=UTC)
    broker.fill(filled, 60.0)
    now[0] = datetime(2026, 12, 3, 15, 2, tzinfo=UTC)
    broker.cancel(1, cancelled.order_id)
    done = broker.completed_orders(datetime(2026, 12, 3).date())
    assert [(o.order_id, o.status) for o in done] == [(1, "Filled"), (2, "Cancelled")]
    assert done[0].completed_time == "20261203 10:01:00 US/Eastern" and working.status != "Filled"


def _wait(ib: IB, cond: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        ib.sleep(0.05)
    return bool(cond())


def test_req_completed_orders_over_tcp(sim: Sim) -> None:
    ib = sim.connect()
    other = sim.connect()
    try:
        [ko] = ib.qualifyContracts(Stock("KO", "SMART", "USD"))
        buy = ib.placeOrder(ko, MarketOrder("BUY", 100, orderRef="co-filled"))
        assert _wait(ib, lambda: buy.orderStatus.status == "Filled")
        rest = ib.placeOrder(ko, LimitOrder("BUY", 100, 1.00, orderRef="co-cancelled", tif="GTC"))
        assert _wait(ib, lambda: rest.orderStatus.status == "Submitted")
        ib.cancelOrder(rest.order)
        assert _wait(ib, lambda: rest.orderStatus.status == "Cancelled")
        # a fresh client (no trades of its own) gets both back from the simulator
        done = {t.order.orderRef: t for t in other.reqCompletedOrders(apiOnly=False)}
        assert {"co-filled", "co-cancelled"} <= set(done)
        f, c = done["co-filled"], done["co-cancelled"]
        assert f.orderStatus.status == "Filled" and f.order.filledQuantity == 100
        assert f.order.permId == buy.order.permId and f.contract.conId == ko.conId
        assert c.orderStatus.status == "Cancelled" and c.order.filledQuantity == 0
        assert c.order.lmtPrice == 1.00 and c.order.totalQuantity == 100
        # open orders are not completed ones
        still = ib.placeOrder(ko, LimitOrder("BUY", 100, 1.00, orderRef="co-working", tif="GTC"))
        assert _wait(ib, lambda: still.orderStatus.status == "Submitted")
        refs = [t.order.orderRef for t in other.reqCompletedOrders(apiOnly=False)]
        assert "co-working" not in refs
        ib.cancelOrder(still.order)
    finally:
        other.disconnect()
        ib.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order_decodes_with_ibapi(version: int, ko: StockSpec) -> None:
    """The official ibapi decoder reads the same message (msgId stripped, as its reader does) to the end."""
    ibapi_decoder = pytest.importorskip("ibapi.decoder")
    ibapi_wrapper = pytest.importorskip("ibapi.wrapper")
    got: list[Any] = []

    class Wrapper(ibapi_wrapper.EWrapper):  # type: ignore[misc]
        def completedOrder(self, contract: Any, order: Any, state: Any) -> None:  # noqa: N802
            got.append((contract, order, state))

    order = sample_order(ko, status="Cancelled", filled=0.0, completed_time="20261203 11:00:00 US/Eastern")
    fields = iter([f.encode() for f in _wire(completed_order(order, version))[1:]])
    ibapi_decoder.Decoder(Wrapper(), version).processCompletedOrderMsg(fields)
    assert next(fields, None) is None  # nothing left over
    [(c, o, st)] = got
    assert (c.conId, c.symbol, o.orderRef, o.permId, st.status) == (
        ko.con_id,
        "KO",
        "intent-abc",
        1_234_567,
        "Cancelled",
    )
    assert float(o.filledQuantity) == 0.0 and st.completedStatus == "Cancelled by Trader"
