"""The server's settings: one frozen value built once, from arguments or the environment."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TOKEN_DELAY = 0.03  # seconds between the built-in model's tokens: the pace of a real LLM
STORE_FORMS = "redis://HOST[:PORT][/DB], e.g. redis://127.0.0.1:6379/0 (none: the SQLite file)"
# The built-in model under a second name, for the lessons on failures: it streams the first
# half of each answer, then an `error` object, and ends without [DONE], as a provider that
# fails mid-answer does (`start_server(upstream=Upstream(model=FAILING_MODEL))`).
FAILING_MODEL = "sse-lab-tiny-fails"


def demo_tokens() -> dict[str, str]:
    """Two demo users with fresh random tokens: enough to show isolation between users."""
    return {name: f"tok_{secrets.token_urlsafe(12)}" for name in ("alice", "bob")}


# The demo tokens have 20 characters (tok_ and 96 random bits); 16 refuses a word or a short
# password that anyone may guess, and lets through any random token of 12 bytes or more.
MIN_TOKEN_CHARS = 16


def check_users(users: dict[str, str]) -> None:
    """ValueError, in one line naming no token, unless each user has a token of their own
    of at least MIN_TOKEN_CHARS characters: two users with one token would be one user."""
    owners: dict[str, str] = {}
    for user, token in users.items():
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"the token of user {user!r} has {len(token)} characters; at least"
                f" {MIN_TOKEN_CHARS} are needed, e.g. from secrets.token_urlsafe(16)"
            )
        if token in owners:
            raise ValueError(
                f"users {owners[token]!r} and {user!r} have the same token: each needs their own"
            )
        owners[token] = user


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where answers come from: an OpenAI-compatible endpoint (the built-in model by default;
    with `model=FAILING_MODEL`, the built-in model failing halfway through each answer)."""

    base_url: str | None = None  # None: this server's own /v1
    api_key: str = "sse-lab"
    model: str = "sse-lab-tiny"

    @classmethod
    def from_env(cls) -> Upstream:
        """A real provider when OPENAI_API_KEY is set, else the built-in model."""
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            return cls()
        return cls(
            base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
            api_key=key,
            model=os.environ.get("SSE_LAB_MODEL", "gpt-4o-mini"),
        )


def check_store(url: str) -> str:
    """`url` if it names a Redis database the answer store can use, else ValueError naming
    the accepted forms."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        parts = urlsplit("")
    db = parts.path.removeprefix("/")
    if not (parts.scheme == "redis" and parts.hostname and (db == "" or db.isdigit())) or (
        parts.query or parts.fragment
    ):
        raise ValueError(f"the answer store must be {STORE_FORMS}; got {url!r}")
    return url


_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^\s/@:]*:)?[^\s/@]+@", re.IGNORECASE)


def redacted(text: str) -> str:
    """`text` with the password of every URL in it masked, `redis://:***@host/0`, for it to
    be shown: in a log, a banner or an error a client gets."""
    return _USERINFO.sub(lambda m: f"{m[1]}{m[2] or ''}***@", text)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a running lab server needs to know; defaults suit a notebook."""

    users: dict[str, str] = field(default_factory=demo_tokens)  # user name -> bearer token
    db_path: str = ":memory:"  # SQLite file of the answer store
    store: str = ""  # a Redis for the answers instead (redis://HOST:PORT/DB), shared by workers
    store_retention: float = 7 * 24 * 3600.0  # seconds Redis keeps an answer
    upstream: Upstream = field(default_factory=Upstream)
    token_delay: float = TOKEN_DELAY  # built-in model pace (0 for tests and benchmarks)
    heartbeat: float = 15.0  # seconds of silence before a `:` comment line on a stream
    retry_ms: int = 2000  # the `retry:` field sent at the start of each stream
    max_tokens: int = 512  # an answer's length limit
    max_seconds: float = 120.0  # an answer's time limit
    max_prompt_chars: int = 16_000  # POST /new: longer prompts get 413
    max_url_bytes: int = 8190  # GET /ask: longer URLs get 414, as behind Apache or nginx
    # Signs the short-lived stream tokens of POST /new (server/auth.py). Random by
    # default: only this process can check them; workers behind one port must share one.
    stream_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    stream_token_seconds: float = 300.0  # how long a stream token lets its answer be read
    # How many recent requests /debug/requests remembers: enough for a notebook to look back
    # over its cells, with the server's own calls to its model (their count varies) among them.
    request_log_size: int = 500
    head_timeout: float = 10.0  # seconds a client has to send a request's head, then 408
    # Connections are refused (503) while fewer than this many descriptors are left below
    # the open-file limit: what the database and the model's connections need, and what
    # one burst of accept() calls takes (up to the listen backlog, 128) before any refusal.
    fd_margin: int = 192
    # Seconds an ended stream waits for a reader that takes nothing, before cutting it off.
    stalled_reader_timeout: float = 10.0
    # Teaching mode: GET /debug/requests shows every user's requests, with no token needed
    # (a notebook on one learner's machine); otherwise each user sees only their own.
    share_request_log: bool = False

    def __post_init__(self) -> None:
        check_users(self.users)
