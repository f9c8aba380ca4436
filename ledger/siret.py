"""SIRET numbers (French establishment identifiers): 14 digits with a Luhn check.

La Poste's establishments (SIREN 356000000) are the one documented exception: their SIRET digits
sum to a multiple of 5 instead; its head office (35600000000048) keeps the Luhn check.
"""

LA_POSTE_SIREN = "356000000"
LA_POSTE_HEAD_OFFICE = "35600000000048"


def _luhn_sum(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def is_valid_siret(value: str) -> bool:
    if len(value) != 14 or not value.isascii() or not value.isdigit():
        return False
    if value.startswith(LA_POSTE_SIREN) and value != LA_POSTE_HEAD_OFFICE:
        return sum(int(c) for c in value) % 5 == 0
    return _luhn_sum(value) % 10 == 0


def with_check_digit(first13: str) -> str:
    """Complete 13 digits into a valid SIRET (used by the synthetic programme generator)."""
    if len(first13) != 13 or not first13.isdigit():
        raise ValueError("expected 13 digits")
    for last in "0123456789":
        if is_valid_siret(first13 + last):
            return first13 + last
    raise AssertionError("unreachable: one Luhn digit always exists")
