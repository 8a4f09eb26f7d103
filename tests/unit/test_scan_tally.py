"""Every symbol a scan passes over gets a ``scan_symbols`` row saying why, also when its chain was never
read (shares held, unknown to TWS, no cost basis)."""

from __future__ import annotations

from scanner.tally import ScanTally
from shared.trade import Right


def test_symbols_skipped_before_any_read_get_a_row_with_the_reason() -> None:
    tally = ScanTally()
    tally.skip("AAPL", Right.PUT, "300 shares held, no new puts (calls instead)")
    tally.count("ZZZZ", Right.PUT, None)  # TWS answered 200: no security definition
    rows = {(r["symbol"], r["right"]): r for r in tally.symbol_rows(scan_id=7)}
    assert set(rows) == {("AAPL", "P"), ("ZZZZ", "P")}
    aapl = rows[("AAPL", "P")]
    assert aapl["scan_id"] == 7 and aapl["candidates"] == 0 and aapl["contracts_checked"] == 0
    assert aapl["note"] == "not read: 300 shares held, no new puts (calls instead)"
    assert rows[("ZZZZ", "P")]["note"] == "not read: unknown symbol (IB 200: no security definition)"
    # the scan's detail says the same
    assert "AAPL: 300 shares held, no new puts (calls instead)" in tally.notes
    assert "ZZZZ" not in tally.symbols  # not counted as a symbol read


def test_a_symbol_read_for_one_right_and_skipped_for_the_other_gets_both_rows() -> None:
    tally = ScanTally()
    tally.skip("KO", Right.CALL, "no cost basis (no open cycle, no average cost), no calls")
    rows = tally.symbol_rows(scan_id=1)
    assert [(r["symbol"], r["right"]) for r in rows] == [("KO", "C")]


def test_the_scan_detail_keeps_whole_notes_and_counts_those_left_out() -> None:
    tally = ScanTally(notes=[f"SYM{i}: no expiry in the DTE window" for i in range(100)])
    detail = tally.detail(200)
    assert len(detail) <= 200 and detail.startswith("SYM0: no expiry in the DTE window; SYM1:")
    kept = detail.split("; … ")[0].split("; ")
    assert all(n.endswith("window") for n in kept)
    assert detail.endswith(f"… {100 - len(kept)} more notes in the symbols table")
    assert ScanTally(notes=["a", "b"]).detail(200) == "a; b"
