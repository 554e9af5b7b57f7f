"""One GET of an HTTP JSON API: auth, sending, 429s waited out, failures that say what to fix."""

from __future__ import annotations

import base64
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from core.connectors import sandbox
from core.connectors.base import SourceError, TransientError

MAX_RETRY_AFTER = 300.0
# Swapped by tests so that a 429 is honoured without sleeping.
sleep = time.sleep

_AUTH_HINT = {
    "bearer": "check the bearer token",
    "api_key_header": "check the API key (sent in the {name} header)",
    "query_param": "check the API key (sent as the {name} query parameter)",
    "basic": "check the user name and password",
    "none": "this connection sends no credentials; set auth and a token",
}
_KEY_NAME_DEFAULT = {"api_key_header": "X-API-Key", "query_param": "api_key"}


@dataclass(frozen=True)
class Response:
    """An HTTP answer, read whole (one page)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    def next_link(self) -> str | None:
        """The rel="next" URL of the Link header, made absolute."""
        for part in self.headers.get("Link", "").split(","):
            match = re.match(r'\s*<([^>]*)>(.*)', part)
            if match and re.search(r'rel\s*=\s*"?([^"]*\s)?next(\s[^"]*)?"?', match.group(2)):
                return urljoin(self.url, match.group(1))
        return None


def endpoint(config: Mapping[str, Any]) -> str:
    """The URL of the records: base URL and endpoint path."""
    return str(config["base_url"]).rstrip("/") + "/" + str(config["endpoint"]).lstrip("/")


def get(config: Mapping[str, Any], url: str, params: Mapping[str, Any], *,
        clock: Callable[[], datetime], unreachable: type[Exception] = TransientError
        ) -> Response:
    """One GET, 429s waited out; errors as TransientError or SourceError naming the fix.

    `clock` gives the current time, to wait until a Retry-After given as a date.
    """
    params = dict(params)
    if config.get("auth") == "query_param":
        params[_key_name(config)] = str(config["token"])
    # Never echo the query string: it may carry the API key.
    shown = url.split("?")[0]
    retries = int(config.get("max_retries", 5))
    timeout = float(config.get("timeout_seconds", 30))
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    headers = _headers(config)
    for attempt in range(retries + 1):
        try:
            response = _send(url, headers, timeout, {str(config[k]) for k in (
                "token", "password") if config.get(k)})
        except TimeoutError:
            raise TransientError(f"{shown} did not answer within {timeout:g}s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TransientError(f"{shown} did not answer within {timeout:g}s") from None
            raise unreachable(f"host unreachable: cannot connect to {urlsplit(shown).netloc} "
                              f"({exc.reason}); check base_url and that the server is up"
                              ) from None
        except (ConnectionError, OSError) as exc:
            raise TransientError(f"{shown} dropped the connection: {exc}") from None
        status = response.status
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"), attempt, clock)
            if attempt == retries or wait > MAX_RETRY_AFTER:
                raise TransientError(f"{shown} is rate limiting (HTTP 429, retry after "
                                     f"{wait:.0f}s) after {attempt + 1} attempt(s)")
            sleep(wait)
            continue
        if status in (401, 403):
            auth = str(config.get("auth", "none"))
            hint = _AUTH_HINT[auth].format(name=_key_name(config))
            what = ("authentication failed" if status == 401 else
                    "access denied: the credentials are valid but may not read this endpoint")
            raise SourceError(f"{what} (HTTP {status} from {shown}); {hint}")
        if status == 404:
            raise SourceError(f"{shown} was not found (HTTP 404): check base_url and endpoint")
        if status >= 500:
            raise TransientError(f"{shown} failed with HTTP {status} (a server error)")
        if status >= 400:
            raise SourceError(f"{shown} refused the request with HTTP {status}: "
                              f"{response.body[:200].decode(errors='replace')}; check the "
                              "parameter names and formats")
        return response
    raise AssertionError("unreachable")  # the loop returns or raises


def _key_name(config: Mapping[str, Any]) -> str:
    auth = str(config.get("auth", "none"))
    return str(config.get("key_name") or _KEY_NAME_DEFAULT.get(auth, ""))


def _headers(config: Mapping[str, Any]) -> dict[str, str]:
    auth = config.get("auth", "none")
    headers = {"Accept": "application/json", "User-Agent": "extracts/http_json"}
    if auth == "bearer":
        headers["Authorization"] = f"Bearer {config['token']}"
    elif auth == "api_key_header":
        headers[_key_name(config)] = str(config["token"])
    elif auth == "basic":
        pair = f"{config['username']}:{config.get('password', '')}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    return headers


class _CredentialsStayHome(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to an allowed host, and to another origin (scheme, host, port)
    without the credentials: urllib would send the Authorization header (or an API key
    header) on to whatever host the source redirects to."""

    def __init__(self, credential_headers: set[str], secrets: set[str]) -> None:
        self.credential_headers = {h.lower() for h in credential_headers}
        self.secrets = {v for v in secrets if v}

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        target = urlsplit(newurl)
        sandbox.check_http(target.hostname or "")
        elsewhere = _origin(newurl) != _origin(req.full_url)
        if elsewhere and target.query:  # a key the source put back into the new URL stays
            kept = [(k, v) for k, v in parse_qsl(target.query, keep_blank_values=True)
                    if v not in self.secrets]
            newurl = target._replace(query=urlencode(kept)).geturl()
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and elsewhere:
            for name in list(new.headers):
                if name.lower() in self.credential_headers:
                    del new.headers[name]
        return new


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _send(url: str, headers: Mapping[str, str], timeout: float,
          secrets: set[str] | None = None) -> Response:
    """GET `url`; an HTTP error status is an answer too, not an exception. Redirects are
    followed without the credentials to another origin (`secrets`: the values of query
    parameters that carry a key)."""
    sandbox.check_http(urlsplit(url).hostname or "")
    request = urllib.request.Request(url, headers=dict(headers), method="GET")
    credentials = {h for h in headers if h not in ("Accept", "User-Agent")}
    opener = urllib.request.build_opener(_CredentialsStayHome(credentials, secrets or set()))
    try:
        with opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, dict(answer.headers.items()), answer.read(),
                            answer.url)
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, dict(error.headers.items()), error.read(), url)


def _retry_after(value: str | None, attempt: int, clock: Callable[[], datetime]) -> float:
    """Seconds a 429 asks to wait: Retry-After as seconds or an HTTP date, else backoff."""
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(value) - clock())
                           .total_seconds())
            except (TypeError, ValueError):
                pass
    return float(min(2 ** attempt, 60))
