"""The printed report's font: a TrueType font with Chinese characters that the PDF can embed.

Chinese text needs a font with CJK glyphs that reportlab can embed: a TrueType-outline font such as
WenQuanYi Micro Hei (Debian ``fonts-wqy-microhei``; the Makefile installs it). Noto CJK
(``fonts-noto-cjk``) has CFF outlines, which reportlab cannot embed, so it is passed over. The
font is found at run time (:func:`find_cjk_font`), never shipped in the repository; the PDF
embeds a subset with a ToUnicode map, so its text can be searched and copied.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from geo.errors import CirclesError

#: the name the report's font is registered under with reportlab (:func:`register_font`)
FONT_NAME = "ServiceCirclesCJK"
#: families looked for through matplotlib's font list when fontconfig is not there
CJK_FAMILIES = (
    "WenQuanYi",
    "Droid Sans Fallback",
    "AR PL",
    "Noto Sans CJK",
    "Source Han",
    "SimHei",
    "Microsoft YaHei",
    "PingFang",
)
FONT_HELP = (
    "install the Debian package fonts-wqy-microhei (apt-get install fonts-wqy-microhei; `make test` "
    "and `make demo` install it when run as root), or another TrueType font with Chinese characters"
)


class ReportError(CirclesError):
    """The report cannot be made on this machine (no font with Chinese characters)."""


def _embeddable(path: Path) -> bool:
    """Whether reportlab can embed ``path`` (TrueType outlines) and it has Chinese glyphs."""
    from reportlab.pdfbase.ttfonts import TTFont

    try:
        font = TTFont("probe", str(path), subfontIndex=0)
    except Exception:  # noqa: BLE001 - reportlab raises TTFError, struct.error... for CFF, broken or odd fonts
        return False
    return all(ord(ch) in font.face.charToGlyph for ch in "社区中心")


def _fontconfig_fonts() -> list[str]:
    """TrueType fonts with Chinese that fontconfig lists (none when ``fc-list`` is not there)."""
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return []
    try:
        out = subprocess.run(  # noqa: S603 - fc-list as found on PATH, with fixed arguments
            [fc_list, ":lang=zh:fontformat=TrueType", "file"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(line.strip().rstrip(":") for line in out.splitlines() if line.strip())


def find_cjk_font() -> Path:
    """A font file with Chinese characters that the PDF can embed.

    Looked for through fontconfig first, then matplotlib's font list; WenQuanYi first.

    Returns
    -------
    Path
        The font file.

    Raises
    ------
    ReportError
        When none is installed, saying which package to install.
    """
    from matplotlib import font_manager

    candidates = _fontconfig_fonts()
    candidates += [f.fname for f in font_manager.fontManager.ttflist if any(k in f.name for k in CJK_FAMILIES)]
    # WenQuanYi first: it is the package the Makefile installs, so reports look alike everywhere
    candidates.sort(key=lambda p: 0 if "wqy" in p.lower() else 1)
    for c in dict.fromkeys(candidates):
        p = Path(c)
        if p.is_file() and _embeddable(p):
            return p
    raise ReportError(f"no font with Chinese characters that the PDF can embed was found: {FONT_HELP}")


def register_font(font_path: Path) -> str:
    """Register ``font_path`` with reportlab as :data:`FONT_NAME`.

    Parameters
    ----------
    font_path
        A TrueType font file (:func:`find_cjk_font`).

    Returns
    -------
    str
        The name the report's styles use for it (:data:`FONT_NAME`).
    """
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_path), subfontIndex=0))
    return FONT_NAME
