"""Checks for notebook 04 (the limits of EventSource): URL bytes of `/ask`, masking a token.

Each check runs the learner's function on a few cases, prints a verdict and returns
whether every case passed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote_plus

from sse_lab.lab.exercises import Verdict, verdict, with_hint
from sse_lab.lab.i18n import N_, _

__all__ = ["check_ask_url_bytes", "check_mask_token"]

# prompt -> bytes of `/ask?prompt=...` once percent-encoded as an HTML form would, with a hint
_URL_BYTES_CASES: tuple[tuple[str, int, str], ...] = (
    ("hi", 14, N_("`/ask?prompt=` alone is 12 bytes")),
    ("hello world", 23, N_("a space is written as `+` (one byte)")),
    ("a&b=c", 21, N_("`&` and `=` must be percent-encoded (`%26`, `%3D`): 3 bytes each")),
    ("café", 21, N_("`é` is 2 bytes in UTF-8, and each byte becomes `%XX`: 6 bytes")),
    ("日本語", 39, N_("each of these characters is 3 bytes in UTF-8, so 9 bytes once encoded")),
    ("🙂", 24, N_("an emoji is 4 bytes in UTF-8: 12 bytes once encoded")),
)

# url -> the same url with the value of every `token` query parameter replaced by ***,
# with a hint for when a mask gets it wrong
_MASK_CASES: tuple[tuple[str, str, str], ...] = (
    ("/sse/ans_1?token=tok_secret", "/sse/ans_1?token=***", N_("replace what follows `token=`")),
    (
        "http://127.0.0.1:8000/sse/ans_1?token=tok_secret&lang=en",
        "http://127.0.0.1:8000/sse/ans_1?token=***&lang=en",
        N_("the value ends at the next `&`: the parameters after it stay"),
    ),
    (
        "/sse/ans_1?lang=en&token=tok_secret",
        "/sse/ans_1?lang=en&token=***",
        N_("`token` may come after other parameters, behind `&` instead of `?`"),
    ),
    (
        "/sse/ans_1?token=tok_a&token=tok_b",
        "/sse/ans_1?token=***&token=***",
        N_("a parameter may appear twice: mask every one"),
    ),
    (
        "/sse/ans_1?token=tok_secret#top",
        "/sse/ans_1?token=***#top",
        N_("the value also ends at `#`, where the fragment starts"),
    ),
    (
        "/sse/ans_1?token=tok_secret&next=/chat/2%3Fs=1",
        "/sse/ans_1?token=***&next=/chat/2%3Fs=1",
        N_("the other parameters stay exactly as the URL wrote them"),
    ),
    (
        "/ask?prompt=what+is+a+token",
        "/ask?prompt=what+is+a+token",
        N_("the word token inside another parameter's value is not a parameter"),
    ),
    (
        "/sse/ans_1?access_token=tok_other&token=tok_secret",
        "/sse/ans_1?access_token=tok_other&token=***",
        N_(
            "`access_token=` is another parameter that merely ends in `token=`: match `token=` "
            "only right after `?` or `&`"
        ),
    ),
    ("/sse?count=3", "/sse?count=3", N_("a URL without `token=` stays as it is")),
)


def check_ask_url_bytes(ask_url_bytes: Callable[[str], object]) -> Verdict:
    """Whether `ask_url_bytes(prompt)` gives the byte length of `/ask?prompt=<encoded prompt>`."""
    for prompt, expected, hint in _URL_BYTES_CASES:
        try:
            got = ask_url_bytes(prompt)
        except Exception as error:
            return verdict(
                _("ask_url_bytes({prompt!r}) raised {error!r}").format(prompt=prompt, error=error)
            )
        if got is None:
            return verdict(
                _("ask_url_bytes({prompt!r}) returned None: return a number of bytes").format(
                    prompt=prompt
                )
            )
        if not isinstance(got, int) or isinstance(got, bool):
            return verdict(
                _(
                    "ask_url_bytes({prompt!r}) returned the {type} {got!r}: return the count "
                    "as an int, such as len(...)"
                ).format(prompt=prompt, type=type(got).__name__, got=got)
            )
        if got != expected:
            problem = _("ask_url_bytes({prompt!r}) returned {got!r}, the server counts {expected}")
            return verdict(
                with_hint(problem.format(prompt=prompt, got=got, expected=expected), _(hint))
            )
    return verdict(None, _("ask_url_bytes counts bytes, not characters, as servers do"))


def check_mask_token(mask_token: Callable[[str], object]) -> Verdict:
    """Whether `mask_token(url)` hides every `token=` value and leaves the rest of the URL alone."""
    for url, expected, hint in _MASK_CASES:
        try:
            got = mask_token(url)
        except Exception as error:
            return verdict(_("mask_token({url!r}) raised {error!r}").format(url=url, error=error))
        if got is None:
            return verdict(
                _("mask_token({url!r}) returned None: return the masked URL").format(url=url)
            )
        if got != expected:
            problem = _("mask_token({url!r}) returned {got!r}, expected {expected!r}").format(
                url=url, got=got, expected=expected
            )
            return verdict(with_hint(problem, _reencoded_hint(got, expected) or _(hint)))
    return verdict(None, _("mask_token hides tokens and keeps everything else"))


def _reencoded_hint(got: object, expected: str) -> str | None:
    """The hint for a URL that says the same once decoded but is written differently: what
    parsing the query and encoding it again (parse_qsl, then urlencode) does to it."""
    if not isinstance(got, str) or unquote_plus(got) != unquote_plus(expected):
        return None
    pieces = zip(re.split(r"[?&#]", got), re.split(r"[?&#]", expected), strict=False)
    mine, theirs = next(((m, t) for m, t in pieces if m != t), (got, expected))
    return _(
        "`{sent}` came back as `{got}`: parsing the query and encoding it again "
        "(parse_qsl, then urlencode) re-encodes every value its own way; replace only the "
        "token's value in the URL as it is"
    ).format(sent=theirs, got=mine)
