"""Self-contained HTML pages: one inline stylesheet, inline SVG, no script, no external resource."""

from __future__ import annotations

import re
from html import escape

INDICATOR_COLOURS = {"critical": "#c62828", "warning": "#ef8f00", "info": "#1f6fb2"}
INDICATORS = ("critical", "warning", "info")
TOPIC_COLOURS = ("#6a3d9a", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e")

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:72rem;
 padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.sub{color:#555;margin-top:0}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.figures{display:flex;flex-wrap:wrap;gap:1.2rem}.figure{border:1px solid #e3e3e3;border-radius:6px;
 padding:.6rem}.figure h3{font-size:1rem;margin:.2rem 0 .4rem}svg text{font-size:11px;fill:#333}
span.critical,h3.critical{color:#c62828}span.warning{color:#a86400}span.info{color:#1f6fb2}
.stat{display:inline-block;margin:0 1.5rem .8rem 0}.stat b{display:block;font-size:1.5rem}
.card{color:#1d1d1f;border-left:4px solid #999;padding:.3rem .8rem;margin:.6rem 0;background:#fafafa}
.card.critical{border-color:#c62828}.card.warning{border-color:#ef8f00}.card.info{border-color:#1f6fb2}
.card pre{white-space:pre-wrap;font-family:inherit;margin:.3rem 0}
.legend span{margin-right:1rem}.note{color:#555;font-size:.9rem}
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def markdown_text(text: str) -> str:
    """Card details are Markdown: escaped, with **bold** kept as bold and the rest shown as written."""
    return _BOLD.sub(r"<b>\1</b>", e(text))


def page(title: str, body: str, *, language: str = "en") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{e(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No network: not even a favicon request.
        '<link rel="icon" href="data:,">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def table(headers: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    """`rows` hold HTML already escaped by the caller; `numeric`: the columns aligned right."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>" for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
