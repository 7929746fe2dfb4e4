"""The checks' verdicts and hints in the learner's language, through gettext.

English is the default; `use_language("zh")` makes every check of this kernel speak
Chinese (the Chinese notebooks run it in their first cell). A message is written in English
in the code, wrapped in `_()`, with named placeholders filled in afterwards, so that a
translation may put them in its own order:

    _("{call} returned None: return the answer's text").format(call=call)

`N_()` marks a message for translation where it is defined (a table of hints built at
import) and `_()` translates it where it is printed. The Chinese messages are
sse_lab/locale/zh/LC_MESSAGES/sse_lab.po, compiled to a .mo by `make` and by the package's
build (setup.py); `make zh` extracts the messages again when the code changes them.
"""

from __future__ import annotations

import gettext
import warnings
from pathlib import Path

DOMAIN = "sse_lab"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("en", "zh")

_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def use_language(code: str) -> None:
    """Make the checks print their verdicts and hints in `code`: "en" (the default) or "zh".

    Without the compiled Chinese messages (a source checkout before `make`), says so in a
    warning and stays in English.
    """
    global _translations, _language
    if code not in LANGUAGES:
        raise ValueError(f"no messages in {code!r}: the checks speak {', '.join(LANGUAGES)}")
    if code == "en":
        _translations, _language = gettext.NullTranslations(), "en"
        return
    try:
        _translations = gettext.translation(DOMAIN, LOCALE_DIR, languages=[code])
    except FileNotFoundError:
        warnings.warn(
            f"the {code} messages of the checks are not compiled ({LOCALE_DIR}/{code}/"
            f"LC_MESSAGES/{DOMAIN}.mo is missing): run `make lab`; the checks stay in English",
            stacklevel=2,
        )
        _translations, _language = gettext.NullTranslations(), "en"
        return
    _language = code


def language() -> str:
    """The language the checks speak now: "en" or "zh"."""
    return _language


def _(message: str) -> str:
    """`message` in the language of `use_language` (itself where it has no translation)."""
    return _translations.gettext(message)


def N_(message: str) -> str:
    """`message` as it is: marks it for translation where it is defined (Babel extracts
    `N_` as it does `_`), for `_()` to translate where it is printed."""
    return message
