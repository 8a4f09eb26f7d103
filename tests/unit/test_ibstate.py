"""Farm notices and TWS ↔ IB link messages as the connection manager tracks them (degraded or not)."""

from __future__ import annotations

from shared.ibstate import FarmStatus


def test_broken_farm_or_lost_link_degrades_until_reported_ok() -> None:
    status = FarmStatus()
    for code, text in (
        (2104, "Market data farm connection is OK:usfarm"),
        (2106, "HMDS data farm connection is OK:ushmds"),
        (2158, "Sec-def data farm connection is OK:secdefnj"),
    ):
        assert status.update(code, text)
    assert status.degraded_reason() is None

    status.update(2103, "Market data farm connection is broken:usfarm")
    status.update(2157, "Sec-def data farm connection is broken:secdefnj")
    assert status.degraded_reason() == "broken: market data farm usfarm, sec-def farm secdefnj"
    status.update(2104, "Market data farm connection is OK:usfarm")
    status.update(2158, "Sec-def data farm connection is OK:secdefnj")
    status.update(2108, "Market data farm connection is inactive but should be available upon demand.usfopt")
    assert status.degraded_reason() is None, "an inactive farm is not broken"

    status.update(1100, "Connectivity between IB and Trader Workstation has been lost.")
    assert status.degraded_reason() == "TWS lost its connection to IB (1100)"
    status.update(1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")
    assert status.degraded_reason() is None
    assert not status.update(200, "No security definition has been found for the request")


def test_a_new_session_forgets_the_old_one() -> None:
    status = FarmStatus()
    status.update(2105, "HMDS data farm connection is broken:ushmds")
    status.update(1100, "lost")
    status.reset()
    assert status.degraded_reason() is None and status.farms == {}
