"""The notebook side of the lab: the server started from a cell (`launch`), what the
notebooks show (`widgets`, `plots`), the checks behind their exercises (`exercises`), the
language those checks speak (`i18n`: `use_language("zh")`) and the Chinese notebooks built
from the English ones (`translate`)."""

from sse_lab.lab.i18n import use_language

__all__ = ["use_language"]
