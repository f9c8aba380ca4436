"""Progress against targets, read from the store and shown on a terminal."""

from __future__ import annotations

import re
from decimal import Decimal

from streams.store import Store


def progress_tables(store: Store) -> dict[str, list[dict]]:
    return {"programmes": store.rows("programme_progress"), "contracts": store.rows("contract_progress")}


# Characters that would act on a terminal instead of being shown: C0 and C1 controls, DEL, and the
# bidirectional overrides that reorder what is displayed ("Trojan Source").
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` with every control character escaped (\\x1b, \\n, \\u202e...): safe on a terminal."""
    def escape(found: re.Match) -> str:
        ch = found.group()
        return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")

    return _UNPRINTABLE.sub(escape, text)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return printable(str(value))


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A plain aligned text table; numbers right-aligned."""
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    columns = [(key, printable(str(title))) for key, title in columns]
    widths = [max([len(title)] + [len(r[i]) for r in cells]) for i, (_, title) in enumerate(columns)]
    numeric = [all(isinstance(row.get(key), (int, float, Decimal)) or row.get(key) is None for row in rows)
               for key, _ in columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    out = [line([title for _, title in columns]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def render_progress(tables: dict[str, list[dict]]) -> str:
    programmes = table(tables["programmes"], [
        ("programme_id", "programme"), ("target_hours", "target h"), ("hours_done", "done h"),
        ("pct_done", "% done"), ("contracts", "contracts"), ("contract_targets", "contract targets h"),
        ("beneficiaries", "beneficiaries")])
    contracts = table(tables["contracts"], [
        ("operation_id", "operation"), ("contract_id", "contract"), ("lot", "lot"), ("target_hours", "target h"),
        ("hours_done", "done h"), ("pct_done", "% done"), ("entries", "entries"), ("beneficiaries", "beneficiaries")])
    return f"Programme progress\n{programmes}\n\nContract progress\n{contracts}"
