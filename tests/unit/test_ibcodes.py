"""Every IB code the protocol notes list (``../shared/docs/tws-protocol.md``, "Error codes the service
must recognise") has a cause and a fix, and the README's troubleshooting codes too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.ibcodes import code_info, tip

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_DOC = ROOT.parent / "shared" / "docs" / "tws-protocol.md"


def codes_in_table(text: str, heading: str) -> set[int]:
    """The codes of the first column of the table under ``heading`` ("2103–2106" is a range)."""
    section = text.split(heading, 1)[1]
    codes: set[int] = set()
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cell = line.split("|")[1]
        for low, high in re.findall(r"(\d+)\s*[–-]\s*(\d+)", cell):
            codes.update(range(int(low), int(high) + 1))
        codes.update(int(c) for c in re.findall(r"\d+", re.sub(r"\d+\s*[–-]\s*\d+", "", cell)))
    return codes


def test_every_code_of_the_protocol_doc_has_a_tip() -> None:
    if not PROTOCOL_DOC.exists():
        pytest.skip(f"{PROTOCOL_DOC} is not beside the repository")
    codes = codes_in_table(PROTOCOL_DOC.read_text(), "## Error codes the service must recognise")
    assert {100, 101, 162, 322, 326, 502, 504, 1100, 1101, 1102, 2103, 2105, 2157, 2158} <= codes
    missing = sorted(c for c in codes if code_info(c) is None)
    assert not missing, f"codes without a cause and fix: {missing}"
    for code in codes:
        info = code_info(code)
        assert info is not None and info.cause and info.fix
        assert tip(code) == f"{info.cause} — {info.fix}"


def test_every_code_of_the_readme_troubleshooting_table_has_a_tip() -> None:
    codes = codes_in_table((ROOT / "README.md").read_text(), "## Troubleshooting by error code")
    assert 10197 in codes
    assert not sorted(c for c in codes if code_info(c) is None)
