"""The printed report's type and tables: paragraph styles, tables that fit the page, numbers as printed.

Tables run over several pages (a community table of a district has a hundred rows and more):
reportlab's ``LongTable`` paginates them with the header row repeated; their columns are as wide
as their widest cell as set in the report's font, shrunk to the page's width.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, SupportsFloat
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import LongTable, Paragraph

#: width the tables may take: A4 less the 15 mm margins (points)
TABLE_WIDTH_PT = (210 - 30) / 25.4 * 72
#: type size of the tables (points); a header wraps rather than widen its column beyond HEADER_PT
TABLE_PT, HEADER_PT = 7.5, 62.0


def styles(font: str) -> dict[str, ParagraphStyle]:
    """The report's paragraph styles, all in ``font``.

    Parameters
    ----------
    font
        A font name registered with reportlab (:func:`maps.report_font.register_font`).

    Returns
    -------
    dict[str, ParagraphStyle]
        ``title``, ``h1``, ``h2``, ``body``, ``small`` and ``cell``.
    """
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK", spaceAfter=4)
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, spaceAfter=8),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontSize=13.5,
            leading=19,
            spaceBefore=8,
            spaceAfter=6,
            textColor=colors.HexColor("#7f0000"),
        ),
        "h2": ParagraphStyle("h2", parent=base, fontSize=11, leading=15, spaceBefore=6, spaceAfter=4),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#444444")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5, spaceAfter=0),
    }


def column_widths(rows: list[list], font: str, total: float) -> list[float]:
    """Column widths (points) from the widest cell of each column as set in ``font``.

    A header wraps beyond :data:`HEADER_PT` (keeping at least its longest word), and the widths
    are scaled down to fit ``total``.

    Parameters
    ----------
    rows
        The table's rows, the header first.
    font
        A font name registered with reportlab.
    total
        The width the table may take (points).

    Returns
    -------
    list[float]
        One width per column (points).
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    def width(text: object) -> float:
        return stringWidth(str(text), font, TABLE_PT)

    out = []
    for c in range(len(rows[0])):
        head = str(rows[0][c])
        word = max((width(w) for w in head.split()), default=0.0)
        out.append(max([width(r[c]) for r in rows[1:]] + [min(width(head), HEADER_PT), word]) + 7.0)
    scale = min(1.0, total / sum(out))
    return [w * scale for w in out]


def table(rows: list[list], *, font: str, numeric: Iterable[int] | None = None) -> LongTable:
    """A table the width of the page at most, with its header row (wrapped) repeated on every page.

    Parameters
    ----------
    rows
        The table's rows, the header first.
    font
        A font name registered with reportlab.
    numeric
        The columns set right-aligned (default: all but the first).

    Returns
    -------
    LongTable
        The table, to add to the report's story.
    """
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import LongTable, Paragraph, TableStyle

    widths = column_widths(rows, font, TABLE_WIDTH_PT)
    latin = ParagraphStyle("head", fontName=font, fontSize=TABLE_PT, leading=9)
    cjk = ParagraphStyle("head-cjk", parent=latin, wordWrap="CJK")
    rows = [
        [Paragraph(escape(str(h)), cjk if any(ord(ch) > 0x2E80 for ch in str(h)) else latin) for h in rows[0]],
        *rows[1:],
    ]
    t = LongTable(rows, colWidths=widths, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), TABLE_PT),
                ("LEADING", (0, 0), (-1, -1), 9.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f7f7")]),
                *[
                    ("ALIGN", (c, 1), (c, -1), "RIGHT")
                    for c in (numeric if numeric is not None else range(1, len(rows[0])))
                ],
            ]
        )
    )
    return t


def paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (names with ``&`` or ``<`` shown as written).

    Parameters
    ----------
    text
        The text, not markup.
    style
        Its style (:func:`styles`).

    Returns
    -------
    Paragraph
        The paragraph, to add to the report's story.
    """
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def percent(v: SupportsFloat | str | None) -> str:
    """A share (0 to 1) as printed: ``42.0%``; empty when not a number."""
    if v is None:
        return ""
    try:
        return f"{100 * float(v):.1f}%"
    except (TypeError, ValueError):
        return ""


def count(v: SupportsFloat | str | None) -> str:
    """A count as printed, rounded with thousands separated: ``42,190``; empty when not a number."""
    if v is None:
        return ""
    try:
        return f"{round(float(v)):,}"
    except (TypeError, ValueError):
        return ""
