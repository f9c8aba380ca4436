"""SIRET validation: 14 ASCII digits with a Luhn key; La Poste (SIREN 356000000) sums to a multiple of 5."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.siret import is_valid_siret, with_check_digit


def luhn_ok(digits: str) -> bool:
    """Independent Luhn oracle: double every second digit from the right, sum the digits of the products."""
    total = 0
    for position, char in enumerate(digits[::-1], start=1):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


@pytest.mark.parametrize("siret", [
    # 7 3 2 8 2 9 3 2 0 0 0 0 7 4: doubled digits (2nd, 4th... from the right) 7,0,0,3,2,2,7 give
    # 5+0+0+6+4+4+5 = 24; the others 4,0,0,2,9,8,3 give 26; 24 + 26 = 50, a multiple of 10.
    "73282932000074",
    "44306184100047",
    "54205118000066",
])
def test_valid_luhn_siret(siret):
    assert is_valid_siret(siret)


@pytest.mark.parametrize("siret, why", [
    ("73282932000075", "last digit changed: Luhn sum 51"),
    ("73282932000047", "last two digits swapped"),
    ("7328293200007", "13 digits"),
    ("732829320000740", "15 digits"),
    ("", "empty"),
    ("732 829 320 00074", "spaces"),
    ("7328293200007A", "a letter"),
    ("73282932000074\n", "trailing newline"),
    ("\u0667\u0663\u0662\u0668\u0662\u0669\u0663\u0662\u0660\u0660\u0660\u0660\u0667\u0664",
     "Arabic-Indic digits (str.isdigit is true, but not ASCII)"),
    ("\uff17\uff13\uff12\uff18\uff12\uff19\uff13\uff12\uff10\uff10\uff10\uff10\uff17\uff14", "full-width digits"),
    ("-7328293200007", "a sign"),
])
def test_invalid_siret(siret, why):
    assert not is_valid_siret(siret), why


@pytest.mark.parametrize("siret, valid, why", [
    # La Poste establishments: the sum of the 14 digits is a multiple of 5, the Luhn key does not apply.
    ("35600000049837", True, "3+5+6+4+9+8+3+7 = 45; Luhn sum ends in 8"),
    ("35600000000010", True, "3+5+6+1 = 15"),
    ("35600000000014", False, "3+5+6+1+4 = 19"),
    ("35600000000055", False, "Luhn-valid but 3+5+6+5+5 = 24 is not a multiple of 5"),
    # SIREN 356000010 is not La Poste: the digits sum to 15 but the Luhn sum is 6+5+3+1 = 15, invalid.
    ("35600001000000", False, "a near-La-Poste SIREN follows Luhn"),
])
def test_la_poste_exception(siret, valid, why):
    assert is_valid_siret(siret) is valid, why


def test_la_poste_head_office_keeps_luhn():
    assert luhn_ok("35600000000048")
    assert is_valid_siret("35600000000048")


@pytest.mark.parametrize("first13, expected", [
    ("7328293200007", "73282932000074"),
    ("4430618410004", "44306184100047"),
    ("5420511800006", "54205118000066"),
    ("0000000000000", "00000000000000"),
])
def test_with_check_digit_known(first13, expected):
    assert with_check_digit(first13) == expected


@pytest.mark.parametrize("bad", ["", "123456789012", "12345678901234", "732829320000A", "732829320000 "])
def test_with_check_digit_refuses_anything_but_13_digits(bad):
    with pytest.raises(ValueError):
        with_check_digit(bad)


thirteen_digits = st.text(alphabet="0123456789", min_size=13, max_size=13).filter(
    lambda s: not s.startswith("356000000"))


@settings(max_examples=300, deadline=None)
@given(thirteen_digits)
def test_with_check_digit_round_trip(first13):
    siret = with_check_digit(first13)
    assert len(siret) == 14 and siret[:13] == first13
    assert is_valid_siret(siret) and luhn_ok(siret)
    # Exactly one key completes 13 digits.
    assert [d for d in "0123456789" if is_valid_siret(first13 + d)] == [siret[13]]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789", min_size=14, max_size=14).filter(lambda s: not s.startswith("356000000")))
def test_is_valid_siret_agrees_with_independent_luhn(siret):
    assert is_valid_siret(siret) is luhn_ok(siret)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=5, max_size=5))
def test_la_poste_rule_is_digit_sum_modulo_5(nic):
    siret = "356000000" + nic
    assume(siret not in ("35600000000000", "35600000000048"))  # head office: covered above
    assert is_valid_siret(siret) is (sum(int(c) for c in siret) % 5 == 0)
