"""Bearer tokens: from the `Authorization` header, or `?token=` for a native EventSource."""

from __future__ import annotations

import hmac
from urllib.parse import unquote_plus

from aiohttp import web

from sse_lab.server import stream_tokens
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
    if not stream_tokens.is_stream_token(token):
        return None
    try:
        return stream_tokens.check(request.app[SETTINGS].stream_secret, token, answer_id)
    except stream_tokens.InvalidStreamToken as invalid:
        raise web.HTTPUnauthorized(
            text=str(invalid), headers={"WWW-Authenticate": 'Bearer realm="sse-lab"'}
        ) from None


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
