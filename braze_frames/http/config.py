"""Settings read when a client is built (arguments first, then the environment).

Nothing here runs at import time: the environment is read by :func:`resolve_api_key` and
:func:`resolve_endpoint` when ``BrazeClient`` is constructed, so tests and notebooks can set
``BRAZE_API_KEY`` / ``BRAZE_REST_ENDPOINT`` at any point before that.

The Braze instance table is data (:data:`INSTANCES`), from
https://www.braze.com/docs/user_guide/administrative/access_braze/sdk_endpoints.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from .._errors import ConfigError

__all__ = [
    "DASHBOARD_HOSTS",
    "ENV_API_KEY",
    "ENV_REST_ENDPOINT",
    "INSTANCES",
    "instance_name",
    "is_loopback_host",
    "resolve_api_key",
    "resolve_endpoint",
]

#: Environment variable holding the REST API key.
ENV_API_KEY: Final = "BRAZE_API_KEY"
#: Environment variable holding the REST endpoint (a URL or an instance name).
ENV_REST_ENDPOINT: Final = "BRAZE_REST_ENDPOINT"

#: Braze instance name -> REST endpoint.
INSTANCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        **{f"US-0{n}": f"https://rest.iad-0{n}.braze.com" for n in range(1, 9)},
        "US-10": "https://rest.us-10.braze.com",
        "EU-01": "https://rest.fra-01.braze.eu",
        "EU-02": "https://rest.fra-02.braze.eu",
        "AU-01": "https://rest.au-01.braze.com",
        "ID-01": "https://rest.id-01.braze.com",
        "JP-01": "https://rest.jp-01.braze.com",
        "KR-01": "https://rest.kr-01.braze.com",
    }
)

#: Dashboard host -> instance name, so a pasted dashboard URL gets a precise hint.
DASHBOARD_HOSTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "dashboard.braze.com": "US-01",
        **{f"dashboard-0{n}.braze.com": f"US-0{n}" for n in range(1, 9)},
        "dashboard.us-10.braze.com": "US-10",
        "dashboard.braze.eu": "EU-01",
        "dashboard-01.braze.eu": "EU-01",
        "dashboard-02.braze.eu": "EU-02",
        "dashboard.au-01.braze.com": "AU-01",
        "dashboard.id-01.braze.com": "ID-01",
        "dashboard.jp-01.braze.com": "JP-01",
        "dashboard.kr-01.braze.com": "KR-01",
    }
)

_REST_HOSTS: Final = MappingProxyType(
    {urlsplit(url).hostname: name for name, url in INSTANCES.items()}
)
# "US-03", "us03", "us_3", "EU 01": two letters, then the instance number.
_INSTANCE_RE: Final = re.compile(r"^\s*([A-Za-z]{2})[\s_-]?0*(\d{1,2})\s*$")
_QUOTES: Final = ('"', "'")


def instance_name(value: str) -> str | None:
    """Return the canonical instance name (``"US-03"``) for a loose spelling, else ``None``.

    Args:
        value: A name such as ``"US-03"``, ``"us-03"``, ``"US03"`` or ``"eu_1"``.

    Returns:
        The key of :data:`INSTANCES`, or ``None`` when ``value`` is not an instance name.

    Examples:
        >>> instance_name("us03"), instance_name("EU-1"), instance_name("https://x")
        ('US-03', 'EU-01', None)
    """
    match = _INSTANCE_RE.match(value)
    if match is None:
        return None
    name = f"{match.group(1).upper()}-{int(match.group(2)):02d}"
    return name if name in INSTANCES else None


def is_loopback_host(host: str) -> bool:
    """Tell whether ``host`` is this machine (``localhost``, 127.0.0.0/8 or ``::1``).

    Examples:
        >>> is_loopback_host("127.0.0.1"), is_loopback_host("::1"), is_loopback_host("10.0.0.1")
        (True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(value: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """Turn a REST endpoint URL or an instance name into the base URL requests go to.

    ``value`` wins over the ``BRAZE_REST_ENDPOINT`` environment variable. Instance names are
    case-insensitive (``"US-03"``, ``"us03"``). URLs must use ``https://``; plain ``http://``
    is accepted only for loopback hosts (the sandbox, tests). A trailing slash is dropped.

    Args:
        value: A URL such as ``"https://rest.iad-03.braze.com"`` or an instance name.
        environ: The environment to read (default ``os.environ``); for tests.

    Returns:
        The base URL, without a trailing slash.

    Raises:
        ConfigError: Nothing given, an unknown instance, a dashboard or SDK URL, a non-https
            URL for a remote host, or a URL with credentials, a query or a fragment.

    Examples:
        >>> resolve_endpoint("us-03")
        'https://rest.iad-03.braze.com'
        >>> resolve_endpoint("https://rest.fra-01.braze.eu/")
        'https://rest.fra-01.braze.eu'
        >>> resolve_endpoint("http://127.0.0.1:8080")
        'http://127.0.0.1:8080'
    """
    env = os.environ if environ is None else environ
    raw = value if value is not None else env.get(ENV_REST_ENDPOINT)
    if raw is not None and not isinstance(raw, str):
        raise TypeError(f"rest_endpoint must be a str, not {type(raw).__name__}")
    if raw is None or not raw.strip():
        raise ConfigError(
            "No Braze REST endpoint given.",
            hint=f"Pass rest_endpoint= (a URL or an instance name such as 'US-03') or set "
            f"{ENV_REST_ENDPOINT}. Instances: {', '.join(INSTANCES)}.",
        )
    text = raw.strip()

    name = instance_name(text)
    if name is not None:
        return INSTANCES[name]
    if "://" not in text:
        # A bare host: accept a known Braze REST host, otherwise explain what is expected.
        host = text.rstrip("/").lower()
        if host in _REST_HOSTS:
            return f"https://{host}"
        if _INSTANCE_RE.match(text):
            raise ConfigError(
                f"Unknown Braze instance {text!r}.",
                hint=f"Known instances: {', '.join(INSTANCES)}; or pass the REST endpoint URL.",
            )
        raise ConfigError(
            f"Invalid Braze REST endpoint {text!r}.",
            hint="Pass a URL such as 'https://rest.iad-03.braze.com' or an instance name "
            "such as 'US-03'.",
        )
    return _check_url(text)


def _check_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(f"Invalid Braze REST endpoint URL: {exc}.") from None
    scheme = parts.scheme.lower()
    if not host or scheme not in {"http", "https"}:
        raise ConfigError(
            f"Invalid Braze REST endpoint {text!r}.",
            hint="Pass a URL such as 'https://rest.iad-03.braze.com'.",
        )
    if parts.username is not None or parts.password is not None:
        # Never echo the URL: its user-info part may hold a secret.
        raise ConfigError(
            "The REST endpoint URL must not contain user-info (user:password@).",
            hint=f"Give the API key on its own ({ENV_API_KEY}) instead.",
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"The REST endpoint URL must not have a query or fragment: {text!r}.",
            hint="Pass only the base URL, such as 'https://rest.iad-03.braze.com'.",
        )
    host = host.lower()
    if host in DASHBOARD_HOSTS:
        rest = INSTANCES[DASHBOARD_HOSTS[host]]
        raise ConfigError(
            f"{text!r} is a Braze dashboard URL, not a REST endpoint.",
            hint=f"Use the REST endpoint {rest} (instance {DASHBOARD_HOSTS[host]}).",
        )
    if host.startswith("sdk.") and f"rest.{host[4:]}" in _REST_HOSTS:
        raise ConfigError(
            f"{text!r} is a Braze SDK endpoint, not a REST endpoint.",
            hint=f"Use the REST endpoint https://rest.{host[4:]}.",
        )
    if host.startswith("dashboard") and host.endswith((".braze.com", ".braze.eu")):
        raise ConfigError(
            f"{text!r} looks like a Braze dashboard URL, not a REST endpoint.",
            hint="Use your instance's REST endpoint (https://rest....braze.com); see "
            "https://www.braze.com/docs/api/basics/#endpoints.",
        )
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"Refusing plain http:// for {host}: the API key would travel unencrypted.",
            hint=f"Use https://{text.split('://', 1)[1].rstrip('/')} (http:// is allowed only "
            "for localhost, e.g. the sandbox).",
        )
    if parts.path.rstrip("/").endswith(("/campaigns/data_series", "/campaigns/list",
                                        "/campaigns/details")):
        raise ConfigError(
            f"The REST endpoint {text!r} includes an API path.",
            hint="Pass only the base URL, such as 'https://rest.iad-03.braze.com'.",
        )
    return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")


def resolve_api_key(value: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """Return the REST API key: ``value`` if given, else ``BRAZE_API_KEY``.

    Surrounding whitespace is stripped. A key wrapped in matching quotes (``'"abc"'``, as a
    ``.env`` file often leaves it) is unwrapped, because Braze answers a quoted key with a
    bare 401 that is hard to diagnose. A key is never echoed in an error message.

    Args:
        value: The key, or ``None`` to read the environment.
        environ: The environment to read (default ``os.environ``); for tests.

    Returns:
        The key, ready for an ``Authorization: Bearer`` header.

    Raises:
        ConfigError: No key, an empty key, or a key with whitespace, control or non-ASCII
            characters or a stray quote (it could not be a Braze key, and a newline would
            inject a header).
        TypeError: ``value`` is not a string.

    Examples:
        >>> resolve_api_key(' "0000-abcd" ')
        '0000-abcd'
    """
    env = os.environ if environ is None else environ
    source = "api_key" if value is not None else ENV_API_KEY
    raw = value if value is not None else env.get(ENV_API_KEY)
    if raw is None:
        raise ConfigError(
            "No Braze API key given.",
            hint=f"Set the {ENV_API_KEY} environment variable or pass api_key=.",
        )
    if not isinstance(raw, str):
        raise TypeError(f"api_key must be a str, not {type(raw).__name__}")
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in _QUOTES:
        key = key[1:-1].strip()
    if not key:
        raise ConfigError(
            f"The Braze API key ({source}) is empty.",
            hint=f"Set {ENV_API_KEY} or pass api_key= with the REST API key from the "
            "dashboard (Settings > APIs and Identifiers).",
        )
    if key.lower().startswith("bearer") and any(c.isspace() for c in key):
        raise ConfigError(
            f"The Braze API key ({source}) starts with 'Bearer'.",
            hint="Pass the key alone; the client adds the 'Bearer' prefix itself.",
        )
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in key):
        raise ConfigError(
            f"The Braze API key ({source}) contains whitespace, control or non-ASCII "
            "characters.",
            hint="Copy the key again from the dashboard; it is a single token.",
        )
    if any(c in _QUOTES for c in key):
        raise ConfigError(
            f"The Braze API key ({source}) contains a quote character.",
            hint="Remove the quotes around the key (a quoted key gives 401 Unauthorized).",
        )
    return key
