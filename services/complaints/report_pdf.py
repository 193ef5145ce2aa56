"""The incident report as PDF: the Markdown report (incidents.report) laid out with reportlab, in a
CID font for Chinese (STSong-Light, supplied by the PDF viewer, so no font file is shipped)."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _inline(text: str) -> str:
    """Markdown bold (**x**) to reportlab markup, the rest escaped."""
    parts = escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def render(markdown: str, title: str) -> bytes:
    """A PDF of the report's Markdown: headings, bullet lines, checklist boxes, paragraphs."""
    styles = getSampleStyleSheet()
    for name in ("Title", "Heading2", "BodyText"):
        styles[name].fontName = FONT
    flow = []
    for line in markdown.splitlines():
        if line.startswith("# "):
            flow.append(Paragraph(_inline(line[2:]), styles["Title"]))
        elif line.startswith("## "):
            flow.append(Paragraph(_inline(line[3:]), styles["Heading2"]))
        elif line.startswith("- [x] ") or line.startswith("- [ ] "):
            box = "☑" if line[3] == "x" else "☐"
            flow.append(Paragraph(f"{box} {_inline(line[6:])}", styles["BodyText"]))
        elif line.startswith("- "):
            flow.append(Paragraph(f"• {_inline(line[2:])}", styles["BodyText"]))
        elif line.strip():
            flow.append(Paragraph(_inline(line), styles["BodyText"]))
        else:
            flow.append(Spacer(1, 2 * mm))
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=title, leftMargin=18 * mm, rightMargin=18 * mm).build(flow)
    return buffer.getvalue()
