"""IB's limits and the scripted faults of the control interface, as an ib_async client sees them.

Real parts: the simulator as a subprocess (limits on, control interface on) over TCP, ib_async clients, the
control interface over HTTP. The simulated clock starts on a Wednesday at 10:00 ET so quotes move.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ib_async import IB, Stock
from simproc import Sim, start_sim, stop_clean

from simulator.inbound import ContractReq, HistReq
from simulator.limits import PACING_TEXT, HistoricalPacer, RateLimiter

_ids = iter(range(300, 400))


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    s = start_sim(178, "--start", "2026-12-16T10:00", hours="rth", limits=True, control=True)
    yield s
    stop_clean(s)


@pytest.fixture
def ib(sim: Sim) -> Iterator[IB]:
    sim.post("/faults/clear")
    client = sim.connect(client_id=next(_ids))
    yield client
    client.disconnect()
    sim.post("/faults/clear")


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: seen.append((req_id, code, msg))
    return seen


def wait(ib: IB, cond: Any, timeout: float = 5.0) -> bool:
    """Run the event loop until ``cond()`` (a disconnect of any client interrupts ib_async's loop: go on)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        with contextlib.suppress(ConnectionError):
            ib.sleep(0.05)
    return bool(cond())


def connect_fails(sim: Sim) -> bool:
    probe = IB()
    try:
        probe.connect(sim.host, sim.port, clientId=next(_ids), timeout=1)
    except Exception:
        return True
    probe.disconnect()
    return False


# ----------------------------------------------------------------------------- faults
def test_drop_client_closes_that_socket_only(sim: Sim, ib: IB) -> None:
    other = sim.connect(client_id=next(_ids))
    errors = errors_of(other)
    try:
        assert other.client.clientId in sim.state()["clients"]
        sim.post("/faults/drop_client", {"client_id": other.client.clientId})
        assert wait(ib, lambda: not other.isConnected())
        assert errors == []  # abruptly: no error message first
        assert ib.isConnected() and ib.reqCurrentTime() is not None
        assert other.client.clientId not in sim.state()["clients"]
        assert sim.request("POST", "/faults/drop_client", {"client_id": 4242})[0] == 404
    finally:
        other.disconnect()


def test_connectivity_lost_then_restored_with_and_without_data(sim: Sim, ib: IB) -> None:
    errors = errors_of(ib)
    [spy] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"))
    ticker = ib.reqMktData(spy)
    updates: list[float] = []
    ticker.updateEvent += lambda t: updates.append(time.monotonic())
    assert wait(ib, lambda: len(updates) >= 3)

    sim.post("/faults/connectivity", {"code": 1100})
    assert wait(ib, lambda: (-1, 1100) in [(r, c) for r, c, _ in errors])
    assert "Connectivity between IB and Trader Workstation has been lost." in [m for *_, m in errors]
    ib.sleep(0.5)
    n = len(updates)
    ib.sleep(1.5)
    assert len(updates) == n  # no market data while IB is unreachable
    sim.post("/faults/connectivity", {"code": 1102})
    assert wait(ib, lambda: len(updates) > n)  # data maintained: the same subscription streams again
    assert errors[-1][:2] == (-1, 1102) and errors[-1][2].endswith("data maintained.")

    sim.post("/faults/connectivity", {"code": 1100})
    sim.post("/faults/connectivity", {"code": 1101})
    assert wait(ib, lambda: errors[-1][:2] == (-1, 1101)) and errors[-1][2].endswith("data lost.")
    ib.sleep(0.5)
    n = len(updates)
    ib.sleep(1.5)
    assert len(updates) == n  # data lost: the subscription is gone
    ib.cancelMktData(spy)
    again = ib.reqMktData(spy)  # resubscribing brings it back
    assert wait(ib, lambda: again.last == again.last and again.bid > 0)
    assert sim.request("POST", "/faults/connectivity", {"code": 1234})[0] == 400


def test_delay_answers_late_then_clear(sim: Sim, ib: IB) -> None:
    sim.post("/faults/delay", {"seconds": 1.0, "for_seconds": 30})
    t0 = time.monotonic()
    assert ib.reqCurrentTime() is not None
    assert time.monotonic() - t0 >= 0.95
    assert sim.state()["delay_seconds"] == 1.0
    sim.post("/faults/clear")
    t0 = time.monotonic()
    ib.reqCurrentTime()
    assert time.monotonic() - t0 < 0.5


def test_refuse_connections_for_a_while(sim: Sim, ib: IB) -> None:
    sim.post("/faults/refuse", {"for_seconds": 1.5})
    assert connect_fails(sim)
    assert ib.isConnected()  # existing clients stay
    time.sleep(1.6)
    assert not connect_fails(sim)


def test_restart_window_drops_everyone_and_refuses_until_it_ends(sim: Sim, ib: IB) -> None:
    state = sim.post("/faults/restart_window", {"for_seconds": 2})
    assert state["restart_window"] and state["clients"] == []
    assert wait(ib, lambda: not ib.isConnected())
    assert connect_fails(sim)
    time.sleep(2.1)
    assert not sim.state()["restart_window"]
    assert not connect_fails(sim)


# ----------------------------------------------------------------------------- limits
def test_message_flood_gets_error_100_then_a_disconnect(sim: Sim, ib: IB) -> None:
    errors = errors_of(ib)
    answers: list[int] = []
    ib.wrapper.currentTime = lambda t: answers.append(t)  # type: ignore[method-assign]
    ib.client.MaxRequests = 0  # no client-side throttling
    ib.sleep(1.1)
    for _ in range(120):
        ib.client.reqCurrentTime()
    assert wait(ib, lambda: any(code == 100 for _, code, _ in errors))
    [(req_id, _, text)] = [e for e in errors if e[1] == 100]
    assert req_id == -1 and text.startswith("Max rate of messages per second has been exceeded:max=50 rec=")
    ib.sleep(0.5)
    assert 45 <= len(answers) <= 52  # the excess was dropped
    assert ib.isConnected()  # one burst is tolerated
    end = time.monotonic() + 6
    while ib.isConnected() and time.monotonic() < end:  # sustained: more than 3 s over the rate
        for _ in range(80):
            ib.client.reqCurrentTime()
        wait(ib, lambda: False, 0.2)
    assert not ib.isConnected()


def hist(ib: IB, contract: Any, what: str = "TRADES", duration: str = "5 D", keep: bool = False) -> int:
    req_id = ib.client.getReqId()
    ib.client.reqHistoricalData(req_id, contract, "", duration, "1 day", what, True, 1, keep, [])
    return req_id


def test_historical_pacing_error_162(sim: Sim, ib: IB) -> None:
    errors = errors_of(ib)
    [spy, ko] = ib.qualifyContracts(Stock("SPY", "SMART", "USD"), Stock("KO", "SMART", "USD"))
    first = hist(ib, spy)
    same = hist(ib, spy)  # identical within 15 s
    ib.sleep(0.5)
    assert [c for r, c, _ in errors if r == first] == []
    [(code, text)] = [(c, m) for r, c, m in errors if r == same]
    assert code == 162
    assert text == "Historical Market Data Service error message:Historical data request pacing violation"
    ids = [hist(ib, ko, duration=f"{n} D") for n in range(1, 7)]  # six for one contract within 2 s
    ib.sleep(0.5)
    refused = {r for r, c, _ in errors if c == 162}
    assert refused & set(ids[:5]) == set() and ids[5] in refused


def test_more_than_50_open_historical_requests_error_322(sim: Sim, ib: IB) -> None:
    errors = errors_of(ib)
    symbols = ["SPY", "QQQ", "AAPL", "AMZN", "NVDA", "TSLA", "KO", "F", "INTC", "PFE", "BAC", "T", "XOM"]
    contracts = ib.qualifyContracts(*[Stock(s, "SMART", "USD") for s in symbols])
    combos = [(c, w) for w in ("TRADES", "MIDPOINT", "BID", "ASK") for c in contracts]
    ids = [hist(ib, c, w, keep=True) for c, w in combos[:51]]  # keepUpToDate requests stay open
    assert wait(ib, lambda: any(c == 322 for _, c, _ in errors))
    [(req_id, text)] = [(r, m) for r, c, m in errors if c == 322]
    assert req_id == ids[50] and "Only 50 simultaneous API historical data requests allowed" in text
    assert not [e for e in errors if e[1] == 162]
    ib.client.cancelHistoricalData(ids[0])  # one closed: room for one more
    again = hist(ib, *combos[51], keep=True)
    ib.sleep(0.5)
    assert not [e for e in errors if e[0] == again]


# ----------------------------------------------------------------------------- the limiters (in-process)
def test_rate_limiter_window_and_sustained_disconnect() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert all(limiter.admit()[0] for _ in range(50))
    ok, text, drop = limiter.admit()
    assert not ok and text is not None and "rec=51" in text and not drop
    now[0] = 1.0  # the window slid: fine again
    assert limiter.admit() == (True, None, False)
    for t in range(40):  # over the rate every 0.1 s for 4 s
        now[0] = 2.0 + t / 10
        results = [limiter.admit() for _ in range(60)]
    assert results[-1][2]  # disconnect


def test_historical_pacer_rules() -> None:
    now = [0.0]
    pacer = HistoricalPacer(clock=lambda: now[0])

    def req(symbol: str, duration: str = "1 D", what: str = "TRADES") -> HistReq:
        contract = ContractReq(symbol=symbol, sec_type="STK")
        return HistReq(1, contract, "", "1 day", duration, True, what, 1, False)

    assert pacer.check(req("KO")) is None
    assert pacer.check(req("KO")) == (162, PACING_TEXT)  # identical within 15 s
    now[0] = 16.0  # identical, but 16 s later: fine
    assert pacer.check(req("KO")) is None
    now[0] = 100.0
    assert [pacer.check(req("XOM", f"{n} D")) for n in range(6)][-1] == (162, PACING_TEXT)  # 6 within 2 s
    assert pacer.check(req("XOM", "9 D", "MIDPOINT")) is None  # another tick type is another stream
    fresh = HistoricalPacer(clock=lambda: now[0])
    assert all(fresh.check(req(f"S{i}")) is None for i in range(60))
    assert fresh.check(req("S60")) == (162, PACING_TEXT)  # the 61st within 10 minutes
    now[0] = 100.0 + 601
    assert fresh.check(req("S61")) is None
