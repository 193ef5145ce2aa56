"""The incident report as PDF: the Markdown report (incidents.report) laid out with reportlab.

Chinese needs a font in the file: WenQuanYi Micro Hei (Debian's fonts-wqy-microhei, installed by the
Dockerfile and scripts/tools.sh; another TrueType font with `TOURCRM_PDF_FONT`) is embedded, subset to
the characters used, so every viewer shows the text and it can be copied and searched. Without the font
file the report falls back to the CID font STSong-Light, which only viewers with Adobe's Asian font pack
draw (most Linux viewers show blank Chinese)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def _font() -> str:
    """The embedded TrueType font when one is installed, else the viewer-supplied CID font."""
    for path in filter(None, (os.environ.get("TOURCRM_PDF_FONT"), *FONT_FILES)):
        if Path(path).is_file():
            pdfmetrics.registerFont(TTFont("ReportFont", path, subfontIndex=0))
            for bold, italic in ((0, 0), (0, 1), (1, 0), (1, 1)):  # one face: <b> stays legible, not an error
                addMapping("ReportFont", bold, italic, "ReportFont")
            return "ReportFont"
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


FONT = _font()


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
