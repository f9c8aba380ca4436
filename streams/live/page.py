"""The live page: the HTML report's look and sections (streams/audit/report_html.py), a panel of what is
live (freshness, intake accounting, Kafka lag, contracts by status), contracts at risk first.

The page is complete when served (it reads without script); `live.js` then fetches
`api/v1/live?html=true` every `refresh` seconds and swaps the `<main>` for the fragment that
answer carries, rendered here by the same functions: figures, charts and table move, the page is
never reloaded. Every figure carries a `data-field` inside an element naming its scope
(`data-scope="accounting"`, `data-programme`, `data-contract`...), as in the report.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from ledger.trajectory import DAYS_PER_MONTH
from streams.audit.report_html import CSS, document_head, e, fmt, render_sections, report_header, status_class

TITLE = "Insertion hours: live"

LIVE_CSS = """
.live-panel { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; margin: 16px 0 4px; }
.live-panel h2 { font-size: 15px; margin: 0 0 8px; }
.statuses { display: flex; flex-wrap: wrap; gap: 6px 10px; margin: 0; padding: 0; list-style: none; }
.statuses b { font-variant-numeric: tabular-nums; margin-left: 4px; }
#connection { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
#connection.lost { color: #b3261e; font-weight: 600; }
#connection.ok::before { content: "●"; color: #2e7d32; margin-right: 6px; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
"""


def duration(seconds: Any) -> str:
    """12 s, 4 min, 3.5 h, 2 d, 5 mo: how old, at a glance."""
    if seconds is None:
        return "–"
    s = float(seconds)
    for limit, size, unit in ((90, 1, "s"), (90 * 60, 60, "min"), (48 * 3600, 3600, "h"), (60 * 86400, 86400, "d")):
        if s < limit:
            value = s / size
            return f"{value:.0f} {unit}" if unit in ("s", "min") or value >= 10 else f"{value:.1f} {unit}"
    return f"{s / (DAYS_PER_MONTH * 86400):.1f} mo"


def _figure(field: str, title: str, shown: str, raw: Any = None, unit: str = "") -> str:
    value = "" if raw is None else f' data-value="{e(raw)}"'
    return (f'<div><dt>{e(title)}</dt><dd><span data-field="{field}"{value}>{e(shown)}</span>'
            f'{e(unit) if shown != "–" else ""}</dd></div>')


def live_panel(snapshot: dict[str, Any]) -> str:
    a, f, k = snapshot["accounting"], snapshot["freshness"], snapshot.get("kafka") or {}
    fresh = "".join([
        _figure("newest_entry_age_seconds", "Newest entry loaded", duration(f.get("newest_entry_age_seconds")),
                f.get("newest_entry_age_seconds"), " ago"),
        _figure("latest_work_date", "Latest work date", fmt(f.get("latest_work_date"), "date")),
        _figure("ingest_lag_seconds", "Ingest lag (submitted → loaded)", duration(f.get("ingest_lag_seconds")),
                f.get("ingest_lag_seconds")),
        _figure("worker_lag_messages", "Waiting for the workers", fmt(k.get("worker_lag_messages"), "int"),
                k.get("worker_lag_messages"), " messages"),
        _figure("loader_lag_messages", "Waiting for the loader", fmt(k.get("loader_lag_messages"), "int"),
                k.get("loader_lag_messages"), " messages"),
    ])
    kafka_note = f'<p class="note">{e(k["error"])}</p>' if k.get("error") else ""
    intake = "".join([
        _figure("accounted", "Decided", fmt(a["accounted"], "int"), a["accounted"], " events"),
        _figure("accepted", "Accepted", fmt(a["accepted"], "int"), a["accepted"]),
        _figure("rejected", "Rejected", fmt(a["rejected"], "int"), a["rejected"]),
        _figure("duplicates", "of which duplicates", fmt(a["duplicates"], "int"), a["duplicates"]),
        _figure("pending", "Pending", fmt(a["pending"], "int"), a["pending"]),
        _figure("hours", "Counted hours", fmt(a["hours"], "hours"), a["hours"], " h"),
    ])
    statuses = "".join(f'<li><span class="status {status_class(s)}">{e(s)}</span><b data-field="{e(s)}">{n}</b></li>'
                       for s, n in snapshot["statuses"].items()) or "<li>no contract yet</li>"
    return f"""<section class="live-panel">
<div class="card" data-scope="freshness"><h2>Data freshness</h2><dl class="figures">{fresh}</dl>{kafka_note}</div>
<div class="card" data-scope="accounting"><h2>Intake accounting</h2><dl class="figures">{intake}</dl>
<p class="note">Decided = accepted + rejected + pending. Posted events still in Kafka are in the messages waiting for the workers.</p></div>
<div class="card" data-scope="statuses"><h2>Contracts by status</h2><ul class="statuses">{statuses}</ul>
<p class="note">The table below lists the contracts at risk first, then behind, not started, on track.</p></div>
</section>
"""


def live_fragment(snapshot: dict[str, Any]) -> str:
    """What `<main>` holds, and what a refresh replaces it with."""
    return report_header(snapshot, TITLE) + live_panel(snapshot) + render_sections(snapshot)


def render_page(snapshot: dict[str, Any], refresh_seconds: float) -> str:
    return document_head(snapshot, TITLE, LIVE_CSS, "live.js") + f"""<body data-refreshes="0">
<p id="connection" class="ok">live · refreshed every {refresh_seconds:g} s · loaded {dt.datetime.now().strftime('%H:%M:%S')}</p>
<main id="live" data-refresh="{refresh_seconds:g}">
{live_fragment(snapshot)}</main>
<footer>Served by the process that owns the store (docs/live.md). The same figures: <code>GET api/v1/live</code>,
<code>ledger progress --json</code>; targets, trajectories and statuses as defined in deploy/clickhouse/schema/.</footer>
</body>
</html>
"""


def login_page(message: str = "") -> str:
    note = f'<p class="note" role="alert">{e(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(TITLE)}: sign in</title><style>{CSS}{LIVE_CSS}</style></head>
<body><main class="card" style="max-width:560px">
<h1>{e(TITLE)}</h1>
<p>This live view needs a token (<code>ledger token issue --facilitator ID</code>, <code>--buyer NAME</code> or <code>--auditor NAME</code>).</p>
<form method="post" action="login"><p><label>Token <input name="token" type="password" autocomplete="off" size="60" required></label></p>
<p><button type="submit">Open the live view</button></p></form>{note}
</main></body></html>
"""


def script() -> str:
    return resources.files("streams.live").joinpath("live.js").read_text(encoding="utf-8")
