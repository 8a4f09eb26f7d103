"""The strategy file's ``[calls]`` section and ``[overrides.SYM.calls]`` (shared.strategy): defaults, the
shipped TOML files, and the one-line problems ``thetawheel config check`` prints for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import check_config
from shared.strategy import CallRules, EntryRules, PutRules, Strategy, load_strategy

ROOT = Path(__file__).resolve().parents[2]


def problems(tmp_path: Path, strategy: str) -> list[str]:
    (tmp_path / "s.toml").write_text(strategy)
    (tmp_path / ".env").write_text(f"THETAWHEEL_CONFIG={tmp_path / 's.toml'}\n")
    return check_config(tmp_path / ".env")


def test_call_defaults_and_shared_base() -> None:
    rules = CallRules()
    assert (rules.delta_min, rules.delta_max, rules.delta_target) == (0.20, 0.35, 0.30)
    assert (rules.dte_min, rules.dte_max, rules.dte_target) == (21, 45, 35)
    assert (rules.min_credit, rules.min_annualized_return) == (0.10, 0.05)
    assert (rules.min_open_interest, rules.max_spread_pct, rules.max_candidates_per_symbol) == (100, 0.10, 3)
    assert rules.strike_at_or_above_cost_basis is True
    assert isinstance(rules, EntryRules) and isinstance(PutRules(), EntryRules)
    assert "strike_at_or_above_cost_basis" not in PutRules.model_fields  # a call-only rule
    assert Strategy().calls == rules


@pytest.mark.parametrize("name", ["thetawheel.toml", "thetawheel.example.toml"])
def test_shipped_files_carry_the_call_defaults(name: str) -> None:
    strategy = load_strategy(ROOT / "config" / name)
    assert strategy.calls == CallRules()
    assert strategy.puts == PutRules()


def test_call_overrides_merge_per_symbol(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        "[universe]\nsymbols = ['KO']\n[calls]\ndelta_max = 0.40\n"
        "[overrides.KO.calls]\ndelta_min = 0.25\n"
        "[overrides.KO.puts]\ndelta_max = 0.25\n"
        # shares held outside the universe: calls only
        "[overrides.PFE.calls]\nstrike_at_or_above_cost_basis = false\n"
    )
    s = load_strategy(tmp_path / "s.toml")
    ko = s.call_rules("KO")
    assert (ko.delta_min, ko.delta_max, ko.delta_target) == (0.25, 0.40, 0.30)
    assert s.put_rules("KO").delta_max == 0.25 and s.put_rules("KO").delta_min == 0.15
    assert s.call_rules("PFE").strike_at_or_above_cost_basis is False
    assert s.call_rules("T") == s.calls  # no override: the defaults
    assert s.put_rules("PFE") == s.puts


@pytest.mark.parametrize(
    ("strategy", "line"),
    [
        (
            "[calls]\ndelta_min = 0.4\n",
            "calls: delta_target 0.3 must lie within delta_min 0.4 .. delta_max 0.35",
        ),
        ("[calls]\ndte_target = 50\n", "calls: dte_target 50 must lie within dte_min 21 .. dte_max 45"),
        ("[calls]\ndelta_max = 1.2\n", "calls.delta_max: Input should be less than 1 (got 1.2)"),
        (
            "[calls]\nmin_annualized_return = -0.1\n",
            "calls.min_annualized_return: Input should be greater than or equal to 0 (got -0.1)"
            " — allowed: 0 to 1",
        ),
        (
            "[calls]\nstrike_at_or_above_cost_basis = 'maybe'\n",
            "calls.strike_at_or_above_cost_basis: Input should be a valid boolean",
        ),
        (
            "[calls]\ndelta_mx = 0.3\n",
            "calls.delta_mx: unknown key (not a thetawheel setting); did you mean delta_max?",
        ),
        (
            "[puts]\nstrike_at_or_above_cost_basis = true\n",
            "puts.strike_at_or_above_cost_basis: unknown key (not a thetawheel setting)",
        ),
        (
            "[universe]\nsymbols = ['KO']\n[overrides.KO.calls]\ndte_min = 1000\n",
            "overrides.KO.calls.dte_min: Input should be less than or equal to 730 (got 1000)"
            " — allowed: 0 to 730",
        ),
        (
            "[universe]\nsymbols = ['KO']\n[overrides.KO.calls]\ndelta_trget = 0.3\n",
            "overrides.KO.calls.delta_trget: unknown key (not a thetawheel setting);"
            " did you mean delta_target?",
        ),
        (
            "[universe]\nsymbols = ['KO']\n[overrides.KO.cals]\ndelta_min = 0.3\n",
            "overrides.KO: unknown section(s) ['cals']; allowed: puts, calls",
        ),
        (
            "[universe]\nsymbols = ['KO']\n[overrides.PFE.puts]\ndelta_min = 0.2\n",
            "overrides.PFE.puts: PFE is not in universe.symbols, so its puts are never screened"
            " (a symbol outside the universe may override only calls)",
        ),
        (
            "[universe]\nsymbols = ['KO']\n[overrides.pfe.calls]\ndelta_min = 0.2\n",
            "overrides.pfe: 'pfe' is not a ticker symbol",
        ),
        (
            "[universe]\nsymbols = ['KO']\n[overrides.KO]\ncalls = 3\n",
            "overrides.KO.calls: must be a table of calls rules",
        ),
    ],
)
def test_call_errors_name_the_key_and_allowed_values(tmp_path: Path, strategy: str, line: str) -> None:
    found = problems(tmp_path, strategy)
    assert len(found) == 1 and line in found[0], found
    assert found[0].startswith(f"{tmp_path / 's.toml'}: ")


def test_every_override_problem_is_listed_in_one_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "[universe]\nsymbols = ['KO']\n"
        "[overrides.KO.calls]\ndelta_max = 2\n"
        "[overrides.PFE.calls]\ndelta_mn = 0.2\n"
        "[overrides.PFE.puts]\ndelta_min = 0.2\n",
    )
    assert len(found) == 1
    for part in (
        "overrides.KO.calls.delta_max",
        "overrides.PFE.calls.delta_mn",
        "overrides.PFE.puts: PFE is not",
    ):
        assert part in found[0], found
