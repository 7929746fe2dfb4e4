"""The fonts that draw Chinese, and matplotlib told to use them: `use_cjk_fonts` adds the
CJK fonts this machine has to matplotlib's `font.family`, after its own font (DejaVu Sans),
and matplotlib draws each glyph from the first font of the list that has it."""

from __future__ import annotations

import matplotlib
from matplotlib import font_manager

# Fonts with Chinese glyphs, at least one on each system: Linux (Debian's fonts-noto-cjk,
# WenQuanYi, Source Han), macOS (PingFang, Hiragino), Windows (Microsoft YaHei).
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",  # the first face of Noto's .ttc files, the one older matplotlib reads
    "PingFang SC",
    "Hiragino Sans GB",
    "Microsoft YaHei",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
)


def cjk_fonts() -> list[str]:
    """The fonts of CJK_FONTS that matplotlib finds on this machine, in that order."""
    if not _font_names() & set(CJK_FONTS):
        _add_fonts_installed_since_cached()
    names = _font_names()
    return [name for name in CJK_FONTS if name in names]


def use_cjk_fonts() -> list[str]:
    """Put the CJK fonts found after the fonts of matplotlib's `font.family`, for the glyphs
    those lack; return the CJK fonts put there (none: Chinese draws as boxes)."""
    found = cjk_fonts()
    family = [name for name in matplotlib.rcParams["font.family"] if name not in CJK_FONTS]
    matplotlib.rcParams["font.family"] = [*family, *found]
    return found


def _font_names() -> set[str]:
    return {entry.name for entry in font_manager.fontManager.ttflist}


def _add_fonts_installed_since_cached() -> None:
    """Add to this process's matplotlib the system's fonts it does not know: it lists them
    once, in a cache file, so a font installed later (`make lab` installs Noto CJK) is not
    in that list."""
    manager = font_manager.fontManager
    known = {entry.fname for entry in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                manager.addfont(path)
            except Exception:  # a file FreeType cannot read: matplotlib's own scan skips it too
                continue
