"""The transparency report: what legal process the operator received and answered.

Computed from the audit chain alone, for any period, so the published numbers
are the ones the chain proves. It names no account: requests by country and
process type, how many accounts they named, the share where any data was
produced, emergency and preservation requests, rejections by reason, and the
chain head it was computed at (anyone holding an earlier report can later catch
entries cut off the chain). JSON, CSV and an HTML page with inline SVG charts
(no script, nothing loaded from elsewhere).
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sottovoce.server.legal import audit

# Chart colours, one per chart, so a screenshot shows which chart rendered.
PROCESS_COLOUR = "#2a6f97"
COUNTRY_COLOUR = "#e07a1f"
REJECTION_COLOUR = "#c0392b"
PRODUCED_COLOUR = "#2e8b57"
NOTHING_COLOUR = "#9e9e9e"


# A report covers the last year unless its reader asks for another period.
DEFAULT_REPORT_DAYS = 365


def parse_period(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """``from``/``to`` as given (days like 2026-12-01), defaulting to the year up to
    ``today``; ``ValueError`` says what is wrong."""
    try:
        to_day = date.fromisoformat(end) if end else today
        from_day = date.fromisoformat(start) if start else to_day - timedelta(DEFAULT_REPORT_DAYS)
    except ValueError:
        raise ValueError("from and to must be days like 2026-12-01") from None
    if from_day > to_day:
        raise ValueError("the period ends before it starts")
    return from_day, to_day


def _in_period(entry: dict[str, Any], start: date, end: date) -> bool:
    try:
        day = date.fromisoformat(str(entry.get("at", ""))[:10])
    except ValueError:  # an edited entry; the chain check reports it
        return False
    return start <= day <= end


def _name(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else "unknown"


def _counts(names: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(names).items()))


def build_report(
    entries: list[dict[str, Any]], start: date, end: date, head: str
) -> dict[str, Any]:
    chosen = [e for e in entries if _in_period(e, start, end)]
    verified = [e for e in chosen if e.get("event") == audit.REQUEST_VERIFIED]
    disclosures = [e for e in chosen if e.get("event") == audit.DISCLOSURE]
    rejections = [e for e in chosen if e.get("event") == audit.REQUEST_REJECTED]
    produced = sum(1 for e in disclosures if e.get("produced"))
    by_pair = Counter((_name(e, "country"), _name(e, "process_type")) for e in verified)
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "requests": {
            "total": len(verified),
            "by_country": _counts(_name(e, "country") for e in verified),
            "by_process_type": _counts(_name(e, "process_type") for e in verified),
            "by_country_and_process_type": [
                {"country": c, "process_type": p, "requests": n}
                for (c, p), n in sorted(by_pair.items())
            ],
        },
        "accounts_named": sum(
            len(e["accounts"]) for e in verified if isinstance(e.get("accounts"), list)
        ),
        "disclosures": {
            "answered": len(disclosures),
            "with_data_produced": produced,
            "share_with_data_produced": round(produced / len(disclosures), 3)
            if disclosures
            else 0.0,
        },
        "emergency_requests": sum(1 for e in verified if e.get("emergency")),
        "preservation_requests": sum(1 for e in chosen if e.get("event") == audit.PRESERVATION),
        "rejections": {
            "total": len(rejections),
            "by_reason": _counts(_name(e, "reason") for e in rejections),
        },
        "notices_delivered": sum(
            1 for e in chosen if e.get("event") == audit.NOTICE_DELIVERED and e.get("devices")
        ),
        "audit_head": head,
    }


def report_csv(report: dict[str, Any]) -> str:
    """One row per figure: ``metric,country,process_type,reason,value``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "country", "process_type", "reason", "value"])
    requests = report["requests"]
    writer.writerow(["requests", "", "", "", requests["total"]])
    for row in requests["by_country_and_process_type"]:
        writer.writerow(["requests", row["country"], row["process_type"], "", row["requests"]])
    writer.writerow(["accounts_named", "", "", "", report["accounts_named"]])
    disclosures = report["disclosures"]
    writer.writerow(["disclosures_answered", "", "", "", disclosures["answered"]])
    writer.writerow(["with_data_produced", "", "", "", disclosures["with_data_produced"]])
    writer.writerow(
        ["share_with_data_produced", "", "", "", disclosures["share_with_data_produced"]]
    )
    writer.writerow(["emergency_requests", "", "", "", report["emergency_requests"]])
    writer.writerow(["preservation_requests", "", "", "", report["preservation_requests"]])
    writer.writerow(["rejections", "", "", "", report["rejections"]["total"]])
    for reason, count in report["rejections"]["by_reason"].items():
        writer.writerow(["rejections", "", "", reason, count])
    writer.writerow(["notices_delivered", "", "", "", report["notices_delivered"]])
    return out.getvalue()


# -- the page ----------------------------------------------------------------------

BAR_HEIGHT = 26
BAR_GAP = 10
LABEL_WIDTH = 230
CHART_WIDTH = 640


def bar_chart(
    title: str,
    values: dict[str, int],
    colour: str,
    chart_id: str,
    colours: dict[str, str] | None = None,
) -> str:
    """A horizontal bar chart as inline SVG, labelled and with a text alternative;
    ``colours`` overrides ``colour`` for some bars."""
    e = html.escape
    if not values:
        return (
            f'<figure id="{chart_id}"><figcaption>{e(title)}</figcaption>'
            '<p class="empty">None in this period.</p></figure>'
        )
    biggest = max(values.values()) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 60
    height = len(values) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    bars = []
    for row, (label, count) in enumerate(values.items()):
        y = BAR_GAP + row * (BAR_HEIGHT + BAR_GAP)
        width = max(2, round(span * count / biggest))
        fill = (colours or {}).get(label, colour)
        bars.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT * 0.7:.0f}" text-anchor="end">'
            f"{e(label)}</text>"
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{width}" '
            f'height="{BAR_HEIGHT}" fill="{fill}"><title>{e(label)}: {count}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + BAR_HEIGHT * 0.7:.0f}">{count}</text>'
        )
    summary = "; ".join(f"{label}: {count}" for label, count in values.items())
    return (
        f'<figure id="{chart_id}"><figcaption>{e(title)}</figcaption>'
        f'<svg role="img" aria-label="{e(title)}: {e(summary)}" width="{CHART_WIDTH}" '
        f'height="{height}" viewBox="0 0 {CHART_WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(bars)}</svg></figure>'
    )


_PAGE_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem}figure{margin:1.5rem 0}figcaption{font-weight:600;margin-bottom:.3rem}
svg text{font:13px system-ui,sans-serif;fill:#222}.figures td,.figures th{padding:.2rem .8rem;
text-align:left}.empty{color:#666}form{margin:1rem 0}code{word-break:break-all}
"""


def report_html(report: dict[str, Any], operator_key_b64: str) -> str:
    e = html.escape
    period = report["period"]
    requests = report["requests"]
    disclosures = report["disclosures"]
    share = disclosures["share_with_data_produced"]
    figures = [
        ("Legal requests verified", requests["total"]),
        ("Accounts named in them", report["accounts_named"]),
        ("Answered with some data produced", disclosures["with_data_produced"]),
        ("Share of answers with some data produced", f"{share:.0%}"),
        ("Emergency requests", report["emergency_requests"]),
        ("Preservation requests", report["preservation_requests"]),
        ("Requests rejected", report["rejections"]["total"]),
        ("Users notified", report["notices_delivered"]),
    ]
    query = f"from={e(period['from'])}&amp;to={e(period['to'])}"
    return "".join(
        [
            "<!doctype html><html lang=en><head><meta charset=utf-8>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>Transparency report</title>",
            f"<style>{_PAGE_STYLE}</style></head><body>",
            "<h1>Transparency report</h1>",
            f"<p>Legal process received from {e(period['from'])} to {e(period['to'])}. "
            "Messages, attachments, group contents and keys are end-to-end encrypted: "
            "no request, however valid, can be answered with them, because the operator "
            "never holds them. Answers contain only the few records listed in "
            '<a href="#what">what the operator holds</a>.</p>',
            '<form method="get" action="/transparency">',
            f'<label>From <input type="date" name="from" value="{e(period["from"])}"></label> ',
            f'<label>to <input type="date" name="to" value="{e(period["to"])}"></label> ',
            '<button type="submit">Show</button></form>',
            '<table class="figures">',
            "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in figures),
            "</table>",
            bar_chart(
                "Requests by process type",
                requests["by_process_type"],
                PROCESS_COLOUR,
                "by-process",
            ),
            bar_chart("Requests by country", requests["by_country"], COUNTRY_COLOUR, "by-country"),
            bar_chart(
                "Answers: data produced or not",
                {
                    "some data produced": disclosures["with_data_produced"],
                    "nothing held to produce": disclosures["answered"]
                    - disclosures["with_data_produced"],
                }
                if disclosures["answered"]
                else {},
                PRODUCED_COLOUR,
                "produced",
                {"nothing held to produce": NOTHING_COLOUR},
            ),
            bar_chart(
                "Rejections by reason",
                report["rejections"]["by_reason"],
                REJECTION_COLOUR,
                "rejections",
            ),
            '<h2 id="what">What the operator holds</h2>',
            "<p>For each account: its app and handle, creation day and minor flag; each "
            "device's public keys and creation day; the last connection day; how many "
            "encrypted messages wait for delivery (never their content); group membership as "
            "MLS exposes it; key-transparency log positions; reported blocks and moderation "
            "actions. Nothing else exists to disclose.</p>",
            f'<p>Also as <a href="/transparency.json?{query}">JSON</a> and '
            f'<a href="/transparency.csv?{query}">CSV</a>. Computed from the audit chain at '
            f"head <code>{e(report['audit_head'])}</code>; disclosure packages are signed by "
            f"the operator key <code>{e(operator_key_b64)}</code>.</p>",
            "</body></html>\n",
        ]
    )
