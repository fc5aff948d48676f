"""Settings: the instance table, endpoint checks, the API key, environment precedence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_frames._errors import ConfigError
from braze_frames.http.config import (
    DASHBOARD_HOSTS,
    ENV_API_KEY,
    ENV_REST_ENDPOINT,
    INSTANCES,
    instance_name,
    is_loopback_host,
    resolve_api_key,
    resolve_endpoint,
)

KEY = "canary-KEY-3f9a1c"


# -- instances -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url"),
    [
        *((f"US-0{n}", f"https://rest.iad-0{n}.braze.com") for n in range(1, 9)),
        ("US-10", "https://rest.us-10.braze.com"),
        ("EU-01", "https://rest.fra-01.braze.eu"),
        ("EU-02", "https://rest.fra-02.braze.eu"),
        ("AU-01", "https://rest.au-01.braze.com"),
        ("ID-01", "https://rest.id-01.braze.com"),
        ("JP-01", "https://rest.jp-01.braze.com"),
        ("KR-01", "https://rest.kr-01.braze.com"),
    ],
)
def test_instance_table(name: str, url: str) -> None:
    assert INSTANCES[name] == url
    assert resolve_endpoint(name, environ={}) == url
    assert resolve_endpoint(name.lower(), environ={}) == url


def test_instance_table_is_complete_and_read_only() -> None:
    assert len(INSTANCES) == 15
    with pytest.raises(TypeError):
        INSTANCES["XX-01"] = "https://example.com"  # type: ignore[index]


@pytest.mark.parametrize("spelling", ["US-03", "us-03", "US03", "us03", "us_3", "US 03", " us-3 "])
def test_loose_instance_spellings(spelling: str) -> None:
    assert instance_name(spelling) == "US-03"
    assert resolve_endpoint(spelling, environ={}) == "https://rest.iad-03.braze.com"


@pytest.mark.parametrize("name", ["US-09", "EU-03", "XX-01", "us-11"])
def test_unknown_instance_lists_the_known_ones(name: str) -> None:
    assert instance_name(name) is None
    with pytest.raises(ConfigError, match="Unknown Braze instance") as info:
        resolve_endpoint(name, environ={})
    assert "US-03" in str(info.value)


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://rest.iad-03.braze.com", "https://rest.iad-03.braze.com"),
        ("https://rest.iad-03.braze.com/", "https://rest.iad-03.braze.com"),
        ("  https://rest.fra-01.braze.eu//  ", "https://rest.fra-01.braze.eu"),
        ("HTTPS://rest.iad-01.braze.com", "https://rest.iad-01.braze.com"),
        ("https://proxy.example.com:8443/braze/", "https://proxy.example.com:8443/braze"),
        ("rest.iad-05.braze.com", "https://rest.iad-05.braze.com"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.9.9.9:1", "http://127.9.9.9:1"),
        ("http://localhost:5000", "http://localhost:5000"),
        ("http://[::1]:5000", "http://[::1]:5000"),
    ],
)
def test_valid_urls(value: str, expected: str) -> None:
    assert resolve_endpoint(value, environ={}) == expected


@pytest.mark.parametrize(
    "value",
    ["http://rest.iad-03.braze.com", "http://10.0.0.1:8080", "http://example.com", "http://0.0.0.0:80"],
)
def test_plain_http_refused_for_remote_hosts(value: str) -> None:
    with pytest.raises(ConfigError, match="Refusing plain http://") as info:
        resolve_endpoint(value, environ={})
    assert "https://" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("dashboard", "rest"),
    [
        ("https://dashboard-03.braze.com", "https://rest.iad-03.braze.com"),
        ("https://dashboard-03.braze.com/app_settings/", "https://rest.iad-03.braze.com"),
        ("https://dashboard.braze.com", "https://rest.iad-01.braze.com"),
        ("https://dashboard.us-10.braze.com", "https://rest.us-10.braze.com"),
        ("https://dashboard-02.braze.eu", "https://rest.fra-02.braze.eu"),
        ("https://dashboard.au-01.braze.com", "https://rest.au-01.braze.com"),
    ],
)
def test_dashboard_url_points_to_the_rest_endpoint(dashboard: str, rest: str) -> None:
    assert set(DASHBOARD_HOSTS.values()) <= set(INSTANCES)
    with pytest.raises(ConfigError, match="dashboard URL") as info:
        resolve_endpoint(dashboard, environ={})
    assert rest in (info.value.hint or "")


def test_unknown_dashboard_host_still_explained() -> None:
    with pytest.raises(ConfigError, match="dashboard") as info:
        resolve_endpoint("https://dashboard-99.braze.com", environ={})
    assert "REST endpoint" in (info.value.hint or "")


def test_sdk_endpoint_points_to_the_rest_endpoint() -> None:
    with pytest.raises(ConfigError, match="SDK endpoint") as info:
        resolve_endpoint("https://sdk.iad-03.braze.com", environ={})
    assert "https://rest.iad-03.braze.com" in (info.value.hint or "")


def test_userinfo_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_endpoint(f"https://user:{KEY}@rest.iad-01.braze.com", environ={})
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "https://rest.iad-01.braze.com/?x=1",
        "https://rest.iad-01.braze.com/#frag",
        "https://rest.iad-01.braze.com/campaigns/data_series",
        "ftp://rest.iad-01.braze.com",
        "https://",
        "https://host:notaport",
        "not a url",
        "braze",
    ],
)
def test_invalid_endpoints(value: str) -> None:
    with pytest.raises(ConfigError):
        resolve_endpoint(value, environ={})


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        resolve_endpoint("not a url", environ={})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("127.1.2.3", True),
     ("::1", True), ("10.0.0.1", False), ("0.0.0.0", False), ("braze.com", False),
     ("localhost.evil.com", False)],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


# -- environment ---------------------------------------------------------------------------


def test_endpoint_argument_beats_environment() -> None:
    env = {ENV_REST_ENDPOINT: "EU-01"}
    assert resolve_endpoint("US-02", environ=env) == "https://rest.iad-02.braze.com"
    assert resolve_endpoint(None, environ=env) == "https://rest.fra-01.braze.eu"


def test_endpoint_missing_everywhere() -> None:
    with pytest.raises(ConfigError, match="No Braze REST endpoint") as info:
        resolve_endpoint(None, environ={})
    assert ENV_REST_ENDPOINT in str(info.value)
    with pytest.raises(ConfigError):
        resolve_endpoint("   ", environ={})


def test_environment_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    monkeypatch.delenv(ENV_REST_ENDPOINT, raising=False)
    with pytest.raises(ConfigError):
        resolve_api_key()
    monkeypatch.setenv(ENV_API_KEY, KEY)
    monkeypatch.setenv(ENV_REST_ENDPOINT, "https://rest.iad-07.braze.com/")
    assert resolve_api_key() == KEY
    assert resolve_endpoint() == "https://rest.iad-07.braze.com"


def test_key_argument_beats_environment() -> None:
    env = {ENV_API_KEY: "from-env"}
    assert resolve_api_key("from-arg", environ=env) == "from-arg"
    assert resolve_api_key(None, environ=env) == "from-env"


def test_missing_key_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_api_key(None, environ={})
    assert ENV_API_KEY in str(info.value)
    assert "api_key=" in str(info.value)


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        resolve_api_key(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        resolve_endpoint(123)  # type: ignore[arg-type]


# -- the key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [KEY, f"  {KEY}\n", f'"{KEY}"', f"'{KEY}'", f' "{KEY}" ', f'"{KEY}"\n']
)
def test_key_is_stripped_and_unquoted(raw: str) -> None:
    assert resolve_api_key(raw, environ={}) == KEY


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ('""', "empty"),
        ("   ", "empty"),
        (f"{KEY}\r\nX-Evil: 1", "whitespace"),
        (f"{KEY[:5]} {KEY[5:]}", "whitespace"),
        (f"{KEY}\x00", "control"),
        (f"{KEY}é", "non-ASCII"),
        (f'"{KEY}', "quote"),
        (f"{KEY}'", "quote"),
        (f"Bearer {KEY}", "Bearer"),
    ],
)
def test_bad_keys_rejected_without_echo(raw: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        resolve_api_key(raw, environ={})
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)


@given(
    st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cs"]), min_size=1,
            max_size=40)
)
def test_any_accepted_key_is_a_safe_single_token(raw: str) -> None:
    candidate = "tok" + raw + "tok"
    unsafe = any(c.isspace() or not c.isprintable() or c in "\"'" for c in raw)
    if unsafe:
        with pytest.raises(ConfigError) as info:
            resolve_api_key(candidate, environ={})
        assert candidate not in str(info.value)
        return
    key = resolve_api_key(candidate, environ={})
    assert key == candidate
    assert all(c.isprintable() and not c.isspace() for c in key)
    assert '"' not in key
    assert "'" not in key
