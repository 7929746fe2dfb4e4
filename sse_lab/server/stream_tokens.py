"""Short-lived stream tokens: what a browser's EventSource carries in `?token=` instead of the
user's own token, which would leak into every access log on the way (notebook 04).

`POST /new` issues one per answer: "USER may read ANSWER until EXPIRES", signed with HMAC-SHA256
under the server's stream secret. Any server process that shares the secret can check it
without asking anyone, and a leaked one opens one answer for a few minutes, nothing more.
It looks like `st.1767225600.alice.<signature>`: the prefix, the expiry (Unix time), the user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

PREFIX = "st."
# The expiry as `issue` writes it, and only so: another spelling of the same time (a leading
# zero, other digits that int() reads) would be another token with the same signature.
# Checked before int(), which refuses over 4,300 digits; 12 digits reach the year 33658.
EXPIRY = re.compile(r"[1-9][0-9]{0,11}")


class InvalidStreamToken(Exception):
    """A stream token that does not let its bearer read this answer; says why."""


def issue(secret: str, user: str, answer_id: str, seconds: float, now: float | None = None) -> str:
    """A token that lets `user` read the stream of `answer_id` for `seconds` from `now`."""
    expires = int((time.time() if now is None else now) + seconds)
    return f"{PREFIX}{expires}.{user}.{_signature(secret, user, answer_id, expires)}"


def check(secret: str, token: str, answer_id: str, now: float | None = None) -> str:
    """The user a stream token lets read `answer_id`; raises InvalidStreamToken otherwise."""
    expires_text, _, rest = token.removeprefix(PREFIX).partition(".")
    user, _, signature = rest.rpartition(".")
    if not token.startswith(PREFIX) or not EXPIRY.fullmatch(expires_text) or not user:
        raise InvalidStreamToken("not a stream token: use the eventsource_url of POST /new")
    expires = int(expires_text)
    expected = _signature(secret, user, answer_id, expires)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise InvalidStreamToken(
            "this stream token is not valid for this answer: altered, or issued for another one"
        )
    if (time.time() if now is None else now) >= expires:
        raise InvalidStreamToken(
            "this stream token has expired: read this answer with an Authorization header instead"
        )
    return user


def is_stream_token(token: str) -> bool:
    """Whether a `?token=` value is meant as a stream token (not a user's own token)."""
    return token.startswith(PREFIX)


def _signature(secret: str, user: str, answer_id: str, expires: int) -> str:
    message = f"{answer_id}:{expires}:{user}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
