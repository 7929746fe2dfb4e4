"""Who may read: bearer tokens (the `Authorization` header, or `?token=` for a native
EventSource), short-lived stream tokens, and credentials masked for logs.

Stream tokens are what a browser's EventSource carries in `?token=` instead of the user's
own token, which would leak into every access log on the way (notebook 04). `POST /new`
issues one per answer: "USER may read ANSWER until EXPIRES", signed with HMAC-SHA256 under
the server's stream secret. Any server process that shares the secret can check it without
asking anyone, and a leaked one opens one answer for a few minutes, nothing more. It looks
like `st.1767225600.alice.<signature>`: the prefix, the expiry (Unix time), the user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from urllib.parse import unquote_plus

from aiohttp import web

from sse_lab.server.state import SETTINGS


def current_user(request: web.Request) -> str | None:
    """The user whose token the request carries, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        token = request.query.get("token", "")
    token = token.strip()
    if not token:
        return None
    # surrogatepass: a header's bytes that are not UTF-8 arrive as surrogates (no match, no 500)
    given = token.encode(errors="surrogatepass")
    for user, known in request.app[SETTINGS].users.items():
        if hmac.compare_digest(given, known.encode()):
            return user
    return None


def require_user(request: web.Request) -> str:
    """The request's user; a 401 JSON error if the token is missing or wrong."""
    user = current_user(request)
    if user is None:
        raise web.HTTPUnauthorized(
            text="missing or wrong token: send 'Authorization: Bearer TOKEN' (or ?token=TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="sse-lab"'},
        )
    return user


def stream_token_user(request: web.Request, answer_id: str) -> str | None:
    """The user whose short-lived stream token (`?token=` from POST /new) lets them read this
    answer; None when the query holds no stream token, a 401 when it holds a bad one."""
    token = request.query.get("token", "")
    if not is_stream_token(token):
        return None
    try:
        return check_stream_token(request.app[SETTINGS].stream_secret, token, answer_id)
    except InvalidStreamToken as invalid:
        raise web.HTTPUnauthorized(
            text=str(invalid), headers={"WWW-Authenticate": 'Bearer realm="sse-lab"'}
        ) from None


STREAM_TOKEN_PREFIX = "st."
# The expiry as `issue_stream_token` writes it, and only so: another spelling of the same
# time (a leading zero, other digits that int() reads) would be another token with the same
# signature. Checked before int(), which refuses over 4,300 digits; 12 digits reach the year
# 33658.
EXPIRY = re.compile(r"[1-9][0-9]{0,11}")


class InvalidStreamToken(Exception):
    """A stream token that does not let its bearer read this answer; says why."""


def issue_stream_token(
    secret: str, user: str, answer_id: str, seconds: float, now: float | None = None
) -> str:
    """A token that lets `user` read the stream of `answer_id` for `seconds` from `now`."""
    expires = int((time.time() if now is None else now) + seconds)
    signature = _stream_token_signature(secret, user, answer_id, expires)
    return f"{STREAM_TOKEN_PREFIX}{expires}.{user}.{signature}"


def check_stream_token(secret: str, token: str, answer_id: str, now: float | None = None) -> str:
    """The user a stream token lets read `answer_id`; raises InvalidStreamToken otherwise."""
    expires_text, _, rest = token.removeprefix(STREAM_TOKEN_PREFIX).partition(".")
    user, _, signature = rest.rpartition(".")
    if not token.startswith(STREAM_TOKEN_PREFIX) or not EXPIRY.fullmatch(expires_text) or not user:
        raise InvalidStreamToken("not a stream token: use the eventsource_url of POST /new")
    expires = int(expires_text)
    expected = _stream_token_signature(secret, user, answer_id, expires)
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
    return token.startswith(STREAM_TOKEN_PREFIX)


def _stream_token_signature(secret: str, user: str, answer_id: str, expires: int) -> str:
    message = f"{answer_id}:{expires}:{user}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mask_url(path_qs: str) -> str:
    """The URL with the value of every parameter the server reads as `token` hidden, for
    logs: `?%74oken=` and `?token=` alike, as the query is decoded before it is read."""
    path, sep, query = path_qs.partition("?")
    if not sep:
        return path_qs
    fields = [field.partition("=") for field in query.split("&")]
    return (
        path
        + sep
        + "&".join(
            name + eq + ("***" if eq and unquote_plus(name) == "token" else value)
            for name, eq, value in fields
        )
    )


# Headers named like one of these carry a credential (X-Api-Key, X-XSRFToken, X-Auth-Token...).
CREDENTIAL_WORDS = ("auth", "cookie", "token", "secret", "key", "password", "session", "csrf")


def mask_header(name: str, value: str) -> str:
    """A request header's value for a log or a page, credentials hidden: Authorization and
    Proxy-Authorization keep their scheme, Cookie and Set-Cookie their cookies' names, and
    any other header named like a credential is hidden whole. A browser sends every cookie
    of its host to every port of it (JupyterLab's login too), so none may be shown."""
    lower = name.lower()
    if not value or not any(word in lower for word in CREDENTIAL_WORDS):
        return value
    if lower in ("authorization", "proxy-authorization"):
        scheme, space, _ = value.strip().partition(" ")
        return f"{scheme} ***" if space else "***"
    if lower in ("cookie", "set-cookie"):
        names = (part.partition("=")[0].strip() for part in value.split(";"))
        return "; ".join(f"{name}=***" for name in names if name)
    return "***"
