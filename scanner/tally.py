"""What one running scan has gathered (:class:`ScanTally`): candidates with the rules that screened them,
notes for the scan's detail, each symbol's chain read and history figures, and the symbols passed over
before any read; from it, a ``scan_symbols`` row per symbol and right (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scanner.chain import ChainRead
from scanner.historyrules import SymbolHistory
from scanner.screen import Screened
from scanner.symbolscan import SymbolScan
from shared.strategy import EntryRules
from shared.trade import Right

__all__ = ["DETAIL_CHARS", "ScanTally"]

#: Characters of ``scans.detail``, the scan's notes in one line.
DETAIL_CHARS = 2000


@dataclass
class ScanTally:
    """What one scan has gathered so far: candidates with the rules that screened them, notes for the
    scan's detail, the symbols read and the contracts checked."""

    screened: list[Screened] = field(default_factory=list)
    rules: dict[tuple[str, Right], EntryRules] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    checked: int = 0
    # history rules (scanner/historyrules.py): each symbol and right's figures, and the rules it skipped
    history: dict[tuple[str, Right], SymbolHistory] = field(default_factory=dict)
    history_notes: dict[tuple[str, Right], list[str]] = field(default_factory=dict)
    reads: dict[tuple[str, Right], ChainRead] = field(default_factory=dict)
    # symbols passed over before any chain read (shares held, unknown to TWS, no cost basis): why
    skipped: dict[tuple[str, Right], str] = field(default_factory=dict)

    def skip(self, symbol: str, right: Right, why: str) -> None:
        """``symbol``'s ``right`` was not read at all: a note for the scan's detail and its own row."""
        self.skipped[(symbol, right)] = why
        self.notes.append(f"{symbol}: {why}")

    def symbol_rows(self, scan_id: int) -> list[dict[str, Any]]:
        """A ``scan_symbols`` row per symbol and right read: contracts, candidates, the contracts each rule
        removed, the history figures, and a note saying why a symbol has no candidate."""
        rows = []
        for key, read in self.reads.items():
            symbol, right = key
            ss = SymbolScan(symbol, right, expiries=read.expiries, contracts_checked=read.contracts_checked)
            ss.add_screened(self.screened)
            hist = self.history.get(key)
            for name, value in (hist.figures() if hist else {}).items():
                ss.figure(name, value)
            notes = [read.note] if read.note else []
            if ss.candidates == 0 and ss.removed:
                notes.insert(0, f"no candidate: {ss.removed_text()}")
            ss.note = "; ".join(notes + self.history_notes.get(key, []))
            rows.append(ss.row(scan_id))
        for (symbol, right), why in self.skipped.items():
            if (symbol, right) not in self.reads:
                rows.append(SymbolScan(symbol, right, note=f"not read: {why}").row(scan_id))
        return rows

    def merge(self, other: ScanTally) -> None:
        """Add what ``other`` gathered (one symbol read on its own, :meth:`scanner.app.Scanner.scan`)
        after what this tally holds."""
        self.screened.extend(other.screened)
        self.rules.update(other.rules)
        self.notes.extend(other.notes)
        self.symbols |= other.symbols
        self.checked += other.checked
        self.history.update(other.history)
        self.history_notes.update(other.history_notes)
        self.reads.update(other.reads)
        self.skipped.update(other.skipped)

    def detail(self, limit: int = DETAIL_CHARS) -> str:
        """The scan's notes joined with ``"; "`` in at most ``limit`` characters: whole notes only, and when
        some do not fit, how many were left out (each symbol's own row keeps them)."""
        text = ""
        for i, note in enumerate(self.notes):
            more = f"; … {len(self.notes) - i} more notes in the symbols table"
            joined = f"{text}; {note}" if text else note
            last = i == len(self.notes) - 1
            if len(joined) + (0 if last else len(more)) > limit:
                return (text + more if text else more[2:])[:limit]
            text = joined
        return text

    def count(self, symbol: str, right: Right, read: ChainRead | None) -> None:
        """Count a chain read (``None``: TWS does not know the symbol, IB 200) and keep its note."""
        if read is None:
            self.skip(symbol, right, "unknown symbol (IB 200: no security definition)")
            return
        self.symbols.add(symbol)
        self.checked += read.contracts_checked
        if read.note:
            self.notes.append(f"{symbol}: {read.note}")
