"""The versioned rulebook: rules/2026.1.toml, effective periods, programme and contract overrides."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.events import parse_event
from ledger.rulebook import PARAMETERS, Rulebook

D = dt.date.fromisoformat
RULES = Path(__file__).resolve().parents[3] / "rules" / "2026.1.toml"


@pytest.fixture(scope="module")
def book() -> Rulebook:
    return Rulebook.from_toml(RULES.read_text())


def contract(ev, start: str, **changes):
    return parse_event(ev.raw(ev.contract(start_date=start, end_date="2030-12-31", **changes)))


# ---------------------------------------------------------------------------------------- the file

def test_the_file_loads_with_its_version(book):
    assert book.version == "2026.1"
    assert set(book.defaults) == set(PARAMETERS)  # every parameter has a value
    assert set(book.programmes) == {"gpe"}


DOCUMENTED_DEFAULTS = [
    ("eligibility_window_months", 24),
    ("permanent_hire_months_counted", 12),
    ("training_cap_hours", Decimal(150)),
    ("daily_max_hours", Decimal(10)),
    ("pending_timeout_hours", Decimal(168)),
    ("labour_share", Decimal("0.5")),
    ("hourly_cost_eur", Decimal(28)),
    ("clause_rate", Decimal("0.05")),
]


@pytest.mark.parametrize("name, value", DOCUMENTED_DEFAULTS)
def test_the_built_in_defaults_hold_on_any_day(name, value):
    rulebook = Rulebook()
    assert rulebook.version == "2026.1"
    for day in (D("2015-01-01"), D("2020-10-01"), D("2031-12-31")):
        assert rulebook.param(name, day) == value
        assert rulebook.param(name, day, "gpe", "gpe-c001") == value  # no programme or contract values


@pytest.mark.parametrize("name, value", DOCUMENTED_DEFAULTS)
def test_the_file_states_the_documented_defaults(book, name, value):
    assert book.param(name, D("2024-06-03")) == value
    assert book.param(name, D("2024-06-03")) == Rulebook().param(name, D("2024-06-03"))  # the built-in ones


@pytest.mark.parametrize("day, rate", [
    ("2015-01-01", "0.05"),
    ("2019-03-01", "0.05"),
    ("2020-09-30", "0.05"),  # the last day at 5%
    ("2020-10-01", "0.10"),  # the first day at 10%
    ("2021-01-04", "0.10"),
    ("2040-01-01", "0.10"),  # open-ended
    ("2014-12-31", "0.05"),  # before the programme's periods: the default
])
def test_gpe_clause_rate_moved_from_5_to_10_percent(book, day, rate):
    assert book.param("clause_rate", D(day), "gpe") == Decimal(rate)
    assert book.param("clause_rate", D(day), "anru") == Decimal("0.05")  # other programmes: the default
    assert book.param("clause_rate", D(day)) == Decimal("0.05")


@pytest.mark.parametrize("start, target", [
    # EUR 10M x 0.5 x 5% / 28 = 250,000 / 28 = 8,928.571... h
    ("2019-03-01", "8928.57"),
    ("2020-09-30", "8928.57"),
    # EUR 10M x 0.5 x 10% / 28 = 500,000 / 28 = 17,857.142... h
    ("2020-10-01", "17857.14"),
    ("2021-01-04", "17857.14"),
])
def test_gpe_target_follows_the_rate_in_force_at_the_start(ev, book, start, target):
    assert book.target_hours(contract(ev, start, target_hours=..., amount_eur=10_000_000)) == Decimal(target)


def test_target_rates_given_by_the_contract_win(ev, book):
    notified = contract(ev, "2021-01-04", target_hours=..., amount_eur=10_000_000, clause_rate=0.05)
    assert book.target_hours(notified) == Decimal("8928.57")  # its own 5%, not GPE's 10% of 2021
    declared = contract(ev, "2021-01-04", target_hours=1234.5)
    assert book.target_hours(declared) == Decimal("1234.5")


def test_another_programme_uses_the_default_rate(ev, book):
    anru = contract(ev, "2021-01-04", programme_id="anru", target_hours=..., amount_eur=10_000_000)
    assert book.target_hours(anru) == Decimal("8928.57")


def test_built_in_rulebook_has_no_programme_values(ev):
    # Rulebook() is the defaults alone: a GPE contract of 2021 gets 5%, not 10%.
    assert Rulebook().programmes == {} and Rulebook.from_dict({"version": "2026.1"}).programmes == {}
    assert Rulebook().target_hours(contract(ev, "2021-01-04", target_hours=..., amount_eur=10_000_000)) == \
        Decimal("8928.57")


# ---------------------------------------------------------------------------------------- overrides

OVERRIDES = """
version = "test.1"

[defaults]
daily_max_hours = 10

[programmes.gpe]
daily_max_hours = 11
clause_rate = [
    { from = "2015-01-01", until = "2020-09-30", value = 0.05 },
    { from = "2020-10-01", value = 0.10 },
]

[contracts."gpe-c042"]
daily_max_hours = [{ from = "2024-01-01", until = "2024-12-31", value = 12 }]
clause_rate = 0.08
"""


@pytest.mark.parametrize("day, programme, contract_id, expected", [
    ("2024-06-03", "gpe", "gpe-c042", "12"),   # the contract's value beats the programme's
    ("2024-12-31", "gpe", "gpe-c042", "12"),   # its period's last day
    ("2025-01-01", "gpe", "gpe-c042", "11"),   # outside the contract's period: the programme's
    ("2023-12-31", "gpe", "gpe-c042", "11"),
    ("2024-06-03", "gpe", "gpe-c001", "11"),   # another contract of the programme
    ("2024-06-03", "anru", "anru-c001", "10"),  # another programme: the default
    ("2024-06-03", None, "gpe-c042", "12"),    # the contract's value needs no programme
])
def test_contract_override_beats_the_programme(day, programme, contract_id, expected):
    rulebook = Rulebook.from_toml(OVERRIDES)
    assert rulebook.version == "test.1"
    assert rulebook.param("daily_max_hours", D(day), programme, contract_id) == Decimal(expected)


def test_contract_override_of_the_clause_rate_sets_its_target(ev):
    rulebook = Rulebook.from_toml(OVERRIDES)
    c042 = contract(ev, "2021-01-04", contract_id="gpe-c042", target_hours=..., amount_eur=10_000_000)
    c001 = contract(ev, "2021-01-04", contract_id="gpe-c001", target_hours=..., amount_eur=10_000_000)
    assert rulebook.for_contract("clause_rate", c042, D("2021-01-04")) == Decimal("0.08")
    assert rulebook.target_hours(c042) == Decimal("14285.71")  # 10M x 0.5 x 8% / 28 = 14,285.714...
    assert rulebook.target_hours(c001) == Decimal("17857.14")


def test_with_overrides_replaces_defaults_only(ev):
    rulebook = Rulebook.from_toml(OVERRIDES).with_overrides(daily_max_hours=9, training_cap_hours=100)
    assert rulebook.param("daily_max_hours", D("2024-06-03")) == Decimal(9)
    assert rulebook.param("daily_max_hours", D("2024-06-03"), "gpe") == Decimal(11)  # the programme's still
    assert rulebook.param("training_cap_hours", D("2024-06-03")) == Decimal(100)
    assert rulebook.version == "test.1"
    assert Rulebook.from_toml(OVERRIDES).param("daily_max_hours", D("2024-06-03")) == Decimal(10)  # not changed


def test_a_default_with_periods(ev):
    rulebook = Rulebook().with_overrides(hourly_cost_eur=[{"until": "2022-12-31", "value": 25},
                                                           {"from": "2023-01-01", "value": 30}])
    assert rulebook.param("hourly_cost_eur", D("2022-12-31")) == Decimal(25)
    assert rulebook.param("hourly_cost_eur", D("2023-01-01")) == Decimal(30)
    # EUR 1M x 0.5 x 5% / 25 = 1,000 h; / 30 = 833.33 h
    assert rulebook.target_hours(contract(ev, "2022-06-01", target_hours=..., amount_eur=1_000_000)) == Decimal("1000.00")
    assert rulebook.target_hours(contract(ev, "2023-06-01", target_hours=..., amount_eur=1_000_000)) == Decimal("833.33")


def test_a_gap_between_periods_falls_back_to_the_default():
    rulebook = Rulebook.from_dict({"version": "t", "programmes": {"gpe": {"daily_max_hours": [
        {"until": "2019-12-31", "value": 8}, {"from": "2021-01-01", "value": 12}]}}})
    assert rulebook.param("daily_max_hours", D("2019-12-31"), "gpe") == Decimal(8)
    assert rulebook.param("daily_max_hours", D("2020-06-01"), "gpe") == Decimal(10)
    assert rulebook.param("daily_max_hours", D("2021-01-01"), "gpe") == Decimal(12)


def test_no_value_on_a_day_is_an_error():
    rulebook = Rulebook().with_overrides(daily_max_hours=[{"from": "2020-01-01", "value": 10}])
    with pytest.raises(LookupError, match="no value of daily_max_hours on 2019-12-31"):
        rulebook.param("daily_max_hours", D("2019-12-31"))


# ---------------------------------------------------------------------------------------- refused files

@pytest.mark.parametrize("periods", [
    [{"from": "2020-01-01", "until": "2020-12-31", "value": 0.05}, {"from": "2020-12-31", "value": 0.1}],
    [{"from": "2020-01-01", "value": 0.05}, {"from": "2021-01-01", "value": 0.1}],  # the first never ends
    [{"from": "2021-01-01", "value": 0.1}, {"from": "2020-01-01", "until": "2021-06-30", "value": 0.05}],
    [{"until": "2020-12-31", "value": 0.05}, {"from": "2020-06-01", "until": "2021-06-30", "value": 0.1}],
    [{"value": 0.05}, {"from": "2021-01-01", "value": 0.1}],  # always, and again from 2021
    # every pair of open starts
    [{"value": 0.05}, {"value": 0.1}],  # always, twice
    [{"value": 0.05}, {"until": "2020-01-01", "value": 0.1}],  # always, and an open start
    [{"until": "2021-01-01", "value": 0.1}, {"until": "2020-01-01", "value": 0.05}],  # listed in either order
])
def test_overlapping_periods_are_refused(periods):
    with pytest.raises(ValueError, match="clause_rate: periods overlap"):
        Rulebook.from_dict({"version": "t", "programmes": {"gpe": {"clause_rate": periods}}})
    with pytest.raises(ValueError, match="periods overlap"):
        Rulebook().with_overrides(clause_rate=periods)


def test_adjacent_periods_are_accepted():
    rulebook = Rulebook.from_dict({"version": "t", "defaults": {"clause_rate": [
        {"until": "2020-09-30", "value": 0.05}, {"from": "2020-10-01", "value": 0.1}]}})
    assert rulebook.param("clause_rate", D("2020-09-30")) == Decimal("0.05")


def test_two_open_start_periods_that_overlap_are_refused():
    with pytest.raises(ValueError, match="periods overlap"):
        Rulebook.from_dict({"version": "t", "defaults": {"clause_rate": [
            {"until": "2020-01-01", "value": 0.05}, {"until": "2021-01-01", "value": 0.1}]}})


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(ValueError, match=r"clause_rate: a period ends \(2020-01-01\) before it starts \(2021-01-01\)"):
        Rulebook.from_dict({"version": "t", "defaults": {"clause_rate": [
            {"from": "2021-01-01", "until": "2020-01-01", "value": 0.05}]}})
    with pytest.raises(ValueError, match="a period ends"):
        Rulebook().with_overrides(clause_rate=[{"from": "2021-01-01", "until": "2020-12-31", "value": 0.05}])


def test_a_one_day_period_is_accepted():
    rulebook = Rulebook().with_overrides(clause_rate=[{"until": "2020-12-31", "value": 0.05},
                                                      {"from": "2021-01-01", "until": "2021-01-01", "value": 0.2},
                                                      {"from": "2021-01-02", "value": 0.1}])
    assert [rulebook.param("clause_rate", D(day)) for day in ("2020-12-31", "2021-01-01", "2021-01-02")] == \
        [Decimal("0.05"), Decimal("0.2"), Decimal("0.1")]


@pytest.mark.parametrize("data, message", [
    ({"version": "t", "defaults": {"clause_rates": 0.1}}, "unknown rulebook parameter 'clause_rates'"),
    ({"version": "t", "programmes": {"gpe": {"overtime_hours": 2}}}, "unknown rulebook parameter 'overtime_hours'"),
    ({"version": "t", "contracts": {"gpe-c001": {"daily_max": 12}}}, "unknown rulebook parameter 'daily_max'"),
    ({"version": "t", "operations": {}}, "unknown rulebook sections: ['operations']"),
    ({"version": "t", "defaults": {"clause_rate": [{"from": "2020-01-01"}]}}, "a period is {from, until, value}"),
    ({"version": "t", "defaults": {"clause_rate": [{"since": "2020-01-01", "value": 0.1}]}},
     "a period is {from, until, value}"),
])
def test_unknown_names_are_refused(data, message):
    with pytest.raises(ValueError) as refused:
        Rulebook.from_dict(data)
    assert message in str(refused.value)


def test_unknown_parameter_in_toml_and_in_overrides_is_refused():
    with pytest.raises(ValueError, match="unknown rulebook parameter 'dailymax_hours'; known: clause_rate, "):
        Rulebook.from_toml('version = "t"\n[defaults]\ndailymax_hours = 12\n')
    with pytest.raises(ValueError, match="unknown rulebook parameter 'window'"):
        Rulebook().with_overrides(window=3)


def test_a_bad_date_is_refused():
    with pytest.raises(ValueError):
        Rulebook.from_dict({"version": "t", "defaults": {"clause_rate": [{"from": "01/10/2020", "value": 0.1}]}})
