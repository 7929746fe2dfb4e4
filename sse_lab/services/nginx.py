"""A real nginx in front of lab servers, as in production: its config written into a
temporary directory, run on a free port, stopped by its process id.

The knobs are the ones that decide whether a stream survives a proxy: response buffering,
gzip, the idle timeout towards the upstream, and HTTP/2 (over TLS, with a certificate
made at start-up).
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yarl import URL

from sse_lab.services.process import MissingProgram, ServiceProcess, find_program, start_process

__all__ = ["NginxProxy", "nginx_config", "nginx_missing", "start_nginx"]

_FOREGROUND = "daemon off;"  # nginx stays the process we started: stopped by its pid


@dataclass
class NginxProxy:
    """A running nginx: `url` to send requests to, `config` as written, `stop()` to end it."""

    url: str
    config: str
    service: ServiceProcess

    @property
    def running(self) -> bool:
        """Whether nginx is still running."""
        return self.service.running

    def error_log(self, lines: int = 20) -> str:
        """The last lines of nginx's error log (a cut stream says why there)."""
        log = self.service.workdir / "error.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop nginx (master and workers) and remove its directory; safe to call twice."""
        self.service.stop()

    def __enter__(self) -> NginxProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def nginx_missing() -> str | None:
    """None if nginx is installed, else one line saying how to install it."""
    try:
        find_program("nginx", "nginx")
    except MissingProgram as missing:
        return str(missing)
    return None


def nginx_config(
    upstreams: Sequence[str],
    port: int,
    *,
    buffering: bool = True,
    honour_accel_buffering: bool = True,
    gzip: bool = False,
    read_timeout: float = 60.0,
    http2: bool = False,
    upstream_http: str = "1.0",
    user: str | None = None,
) -> str:
    """The nginx.conf `start_nginx` runs: every path relative to nginx's prefix directory."""
    servers = "".join(f"\n        server {_host_port(upstream)};" for upstream in upstreams)
    listen = f"127.0.0.1:{port} ssl http2" if http2 else f"127.0.0.1:{port}"
    tls = "\n        ssl_certificate cert.pem;\n        ssl_certificate_key key.pem;"
    ignore = "\n            proxy_ignore_headers X-Accel-Buffering;"
    ignore = "" if honour_accel_buffering else ignore
    return f"""\
{f"user {user};{chr(10)}" if user else ""}worker_processes 1;
pid nginx.pid;
error_log error.log info;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

    upstream lab {{{servers}
    }}
    server {{
        listen {listen};{tls if http2 else ""}
        location / {{
            proxy_pass http://lab;
            proxy_http_version {upstream_http};
            proxy_set_header Host $http_host;
            add_header X-Upstream $upstream_addr always;  # which upstream answered
            proxy_buffering {"on" if buffering else "off"};{ignore}
            proxy_read_timeout {round(read_timeout * 1000)}ms;
            gzip {"on" if gzip else "off"};
            gzip_types text/event-stream;  # without it, gzip compresses only text/html
            gzip_min_length 0;
        }}
    }}
}}
"""


def start_nginx(
    upstreams: Sequence[str],
    *,
    buffering: bool = True,
    honour_accel_buffering: bool = True,
    gzip: bool = False,
    read_timeout: float = 60.0,
    http2: bool = False,
    upstream_http: str = "1.0",
    timeout: float = 15.0,
) -> NginxProxy:
    """Start nginx on a free port of 127.0.0.1 in front of `upstreams` (URLs or host:port,
    taken in turn: round-robin).

    The defaults are nginx's own: `proxy_buffering on` (`buffering`), which an upstream may
    turn off per response with `X-Accel-Buffering: no` unless `honour_accel_buffering` is
    False (`proxy_ignore_headers`: as if the upstream had not sent it); `gzip` off;
    `proxy_read_timeout` 60 s (`read_timeout`, seconds of upstream silence before nginx cuts
    the response; nginx moves that deadline only by steps of 300 ms or more, so keep it
    well above a second when heartbeats are to keep a stream open); HTTP/1.0 towards the
    upstreams (`upstream_http`: "1.1" brings chunked bodies, which nginx passes on chunk by
    chunk even when buffering). `http2=True` serves HTTPS with HTTP/2 and a self-signed
    certificate for 127.0.0.1, made now with `openssl`. Raises MissingProgram (with how to
    install it) when nginx, or openssl for HTTP/2, is missing.
    """
    nginx = find_program("nginx", "nginx")
    openssl = find_program("openssl", "openssl") if http2 else None
    # As root, nginx's workers would run as `nobody`, who cannot enter our private directory.
    user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
    written: dict[str, str] = {}

    def argv(workdir: Path, port: int) -> list[str]:
        written["config"] = nginx_config(
            upstreams,
            port,
            buffering=buffering,
            honour_accel_buffering=honour_accel_buffering,
            gzip=gzip,
            read_timeout=read_timeout,
            http2=http2,
            upstream_http=upstream_http,
            user=user,
        )
        (workdir / "nginx.conf").write_text(written["config"])
        (workdir / "tmp").mkdir()
        if openssl is not None:
            self_signed_certificate(openssl, workdir)
        # -e: the error log from the very start, before nginx has read its config
        return [nginx, "-p", str(workdir), "-e", "error.log", "-c", "nginx.conf", "-g", _FOREGROUND]

    service = start_process("nginx", argv, timeout=timeout)
    scheme = "https" if http2 else "http"
    return NginxProxy(f"{scheme}://127.0.0.1:{service.port}", written["config"], service)


def self_signed_certificate(openssl: str, directory: Path) -> None:
    """cert.pem and key.pem in `directory`: a one-day certificate for 127.0.0.1 and localhost."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _host_port(upstream: str) -> str:
    """`host:port` of a URL such as http://127.0.0.1:8000 (or of host:port itself)."""
    if "://" not in upstream:
        return upstream
    url = URL(upstream)
    return f"{url.host}:{url.port}"
