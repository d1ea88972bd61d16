"""The human-readable rendering of a signed disclosure package (one HTML file).

The page carries the signed JSON document itself, so the HTML can be checked
like the JSON: ``sottovoce legal verify-package package.html`` verifies the
embedded document's signature and that the page is exactly its rendering.
Every value is HTML-escaped; the page loads nothing from anywhere.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from sottovoce.protocol.public.legal import canonical_json

EMBED_ID = "sottovoce-signed-package"
_EMBEDDED = re.compile(
    rf'<script type="application/json" id="{EMBED_ID}">(.*?)</script>', re.DOTALL
)

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.statement{border-left:4px solid #2a6f97;padding:.5rem 1rem;background:#eef5f9}
code{font-size:.85em;word-break:break-all}.muted{color:#555}
"""


def _e(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value))


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


def _record_table(record: Any) -> str:
    """A category's record: a key/value table, with lists of objects as sub-tables."""
    if isinstance(record, dict):
        cells = []
        for key, value in record.items():
            cells.append(f"<tr><th>{_e(key)}</th><td>{_record_table(value)}</td></tr>")
        return f"<table>{''.join(cells)}</table>"
    if isinstance(record, list):
        if not record:
            return '<span class="muted">none</span>'
        if all(isinstance(item, dict) for item in record):
            columns = sorted({k for item in record for k in item})
            head = "".join(f"<th>{_e(c)}</th>" for c in columns)
            body = "".join(
                "<tr>"
                + "".join(f"<td>{_record_table(item.get(c))}</td>" for c in columns)
                + "</tr>"
                for item in record
            )
            return f"<table><tr>{head}</tr>{body}</table>"
        return ", ".join(_e(item) for item in record)
    if isinstance(record, str) and len(record) > 40:
        return f"<code>{_e(record)}</code>"
    return _e(record)


def _embedded_json(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=True)
    # Inside <script>, only "</" could end the element early; JSON allows "<\/".
    return text.replace("</", "<\\/")


def render_package_html(document: dict[str, Any]) -> str:
    """The page for a signed package document (``{"format", "package", ...}``), the
    same for any key order of the document: it is rendered in canonical order."""
    document = json.loads(canonical_json(document))
    package = document["package"]
    request = package["request"]
    issuer = request.get("issuing_authority") or {}
    judicial = request.get("judicial_authority") or {}
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>Disclosure package {_e(request['request_id'])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Answer to legal request {_e(request['request_id'])}</h1>",
        f'<p class="statement">{_e(package["end_to_end_encrypted"])}</p>',
        "<h2>The request</h2><table>",
        _rows(
            [
                ("kind of answer", package["kind"]),
                ("process", request["process_type"]),
                ("legal basis", request["legal_basis"]),
                ("issued by", f"{issuer.get('name')} ({issuer.get('country')})"),
                (
                    "authorized by",
                    f"{judicial.get('name')} ({judicial.get('country')})" if judicial else None,
                ),
                ("agreement", request.get("agreement")),
                ("date range", f"{request['date_range']['from']} to {request['date_range']['to']}"),
                ("categories requested", ", ".join(request["categories_requested"])),
                ("emergency justification", request.get("emergency_justification")),
                ("answered at", package["answered_at"]),
                ("preserved until", package.get("preserved_until")),
                ("user notice", package["user_notice"]),
            ]
        ),
        "</table>",
    ]
    for account in package["accounts"]:
        parts.append(f"<h2>Account {_e(account['account'])}</h2>")
        if not account["found"]:
            parts.append("<p>No such account exists on this server.</p>")
        for category, record in account["records"].items():
            parts.append(f"<h3>{_e(category)}</h3>{_record_table(record)}")
        if account.get("preserved_categories"):
            preserved = ", ".join(account["preserved_categories"])
            parts.append(f"<p>Preserved, not disclosed: {_e(preserved)}</p>")
        for snapshot in account.get("preserved_records", []):
            parts.append(
                f"<h3>Preserved on {_e(snapshot['preserved_on'])} for request "
                f"{_e(snapshot['request_id'])}</h3>{_record_table(snapshot['records'])}"
            )
        if account["unavailable"]:
            parts.append("<h3>Requested but not available</h3><table>")
            parts.append("<tr><th>category</th><th>why</th><th>explanation</th></tr>")
            parts.extend(
                f"<tr><td>{_e(u['category'])}</td><td>{_e(u['reason'])}</td>"
                f"<td>{_e(u['explanation'])}</td></tr>"
                for u in account["unavailable"]
            )
            parts.append("</table>")
    parts.append("<h2>Never held by the operator</h2><table>")
    parts.extend(
        f"<tr><th>{_e(n['category'])}</th><td>{_e(n['explanation'])}</td></tr>"
        for n in package["never_held"]
    )
    parts.append("</table>")
    parts.append(
        "<h2>Signature</h2><p>Signed by the operator's Ed25519 key "
        f"<code>{_e(document['operator_key'])}</code>. Check it with "
        "<code>sottovoce legal verify-package</code> on this file or the JSON.</p>"
    )
    parts.append(
        f'<script type="application/json" id="{EMBED_ID}">{_embedded_json(document)}</script>'
    )
    parts.append("</body></html>\n")
    return "".join(parts)


def embedded_document(page: str) -> bytes | None:
    """The signed document a rendered page carries, or None if it carries none."""
    match = _EMBEDDED.search(page)
    if match is None:
        return None
    return match.group(1).replace("<\\/", "</").encode("utf-8")
