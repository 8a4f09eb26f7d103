"""What one scan found for one symbol and right: a ``scan_symbols`` row (pure, no I/O).

:class:`SymbolScan` gathers the expiries read, the contracts checked, the candidates and, per entry rule,
how many contracts it removed (:func:`scanner.historyrules.rule_of` names the rule of each of a
:class:`Screened`'s reasons, the screen's and the history rules' alike). Removals decided outside the
screened contracts add their counts with :meth:`SymbolScan.remove`, the history rules' figures go in with
:meth:`SymbolScan.figure`. :meth:`SymbolScan.row` gives the row in the units of
:data:`shared.schema.scan_symbols`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scanner.historyrules import rule_of
from scanner.screen import Screened
from shared.trade import Right

__all__ = ["FIGURES", "SymbolScan"]

#: The history figures a row may carry (columns of ``scan_symbols``).
FIGURES = ("iv", "iv_rank", "hv", "iv_hv_ratio", "next_earnings", "sma200", "rsi14")


@dataclass
class SymbolScan:
    """One symbol and right of a scan: ``expiries`` of the DTE window read, ``contracts_checked``,
    ``candidates`` (passed every rule), ``removed`` (rule → contracts it failed; a contract failing two
    rules counts for both), a one-line ``note`` and the history ``figures`` (see :data:`FIGURES`)."""

    symbol: str
    right: Right
    expiries: int = 0
    contracts_checked: int = 0
    candidates: int = 0
    removed: Counter[str] = field(default_factory=Counter)
    note: str = ""
    figures: dict[str, float | str | None] = field(default_factory=dict)

    def add_screened(self, screened: Iterable[Screened]) -> None:
        """Count the candidates and every failed rule's contracts of this symbol and right."""
        for s in screened:
            if s.quote.symbol != self.symbol or s.quote.right is not self.right:
                continue
            if s.passed:
                self.candidates += 1
            for rule in {rule_of(r) for r in s.reasons}:
                self.removed[rule] += 1

    def remove(self, rule: str, count: int) -> None:
        """Add ``count`` contracts removed by ``rule`` (a rule applied outside the screen)."""
        if count > 0:
            self.removed[rule] += count

    def figure(self, name: str, value: float | str | None) -> None:
        """Set a history figure (one of :data:`FIGURES`)."""
        if name not in FIGURES:
            raise ValueError(f"unknown scan_symbols figure {name!r}; one of {', '.join(FIGURES)}")
        self.figures[name] = value

    def removed_text(self) -> str:
        """``"delta 14, spread 6"``: rules by contracts removed, most first (then by name)."""
        return ", ".join(f"{r} {n}" for r, n in sorted(self.removed.items(), key=lambda x: (-x[1], x[0])))

    def row(self, scan_id: int) -> dict[str, Any]:
        """The ``scan_symbols`` row; a symbol without a candidate and without a note gets one naming the
        rules that removed its contracts."""
        note = self.note
        if not note and self.candidates == 0:
            note = f"no candidate: {self.removed_text()}" if self.removed else "no contract read"
        return {
            "scan_id": scan_id,
            "symbol": self.symbol,
            "right": self.right.value,
            "expiries": self.expiries,
            "contracts_checked": self.contracts_checked,
            "candidates": self.candidates,
            "removed": self.removed_text(),
            "note": note[:500],
            **{k: self.figures.get(k) for k in FIGURES},
        }
