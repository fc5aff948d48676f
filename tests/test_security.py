"""Security: the API key never leaks, TLS stays on, plain http only to this machine.

A canary key travels through every path out of the library: reprs and messages of the
client, its errors and results; log records at DEBUG (ours, ``requests``' and ``urllib3``'s);
exception chains as ``traceback`` formats them, and pickles; URLs; Parquet files and their
metadata; the command line's output. Servers here are hostile on purpose: they echo the key
back in messages, ``errors`` lists, HTML pages, truncated bodies and redirect targets.
"""

from __future__ import annotations

import copy
import datetime as dt
import http.server
import json
import logging
import os
import pickle
import ssl
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from _support_http import RecordedRequest, Reply, ScriptedServer

import braze_frames as bf
from braze_frames.fetch import FetchResult
from braze_frames.http.config import ENV_API_KEY, ENV_REST_ENDPOINT
from braze_frames.sandbox import Sandbox
from braze_frames.storage.parquet import parquet_metadata, write_parquet

CANARY = "CANARY-9f8e7d-KEY"
TODAY = dt.date(2025, 6, 30)


def assert_clean(*things: object) -> None:
    """No canary in the str, repr or attributes of anything given."""
    for thing in things:
        for text in (str(thing), repr(thing), repr(getattr(thing, "__dict__", ""))):
            assert CANARY not in text, text


def exception_texts(exc: BaseException) -> Iterator[str]:
    """Everything an exception shows: its formatted chain, and each link's str, repr, state."""
    yield "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield str(link)
        yield repr(link)
        yield repr(vars(link))
        yield repr(link.args)
        link = link.__cause__ or link.__context__


def assert_exception_clean(exc: BaseException) -> None:
    for text in exception_texts(exc):
        assert CANARY not in text, text
    assert CANARY.encode() not in pickle.dumps(exc)


def client_for(url: str, **kwargs: Any) -> bf.BrazeClient:
    return bf.BrazeClient(CANARY, url, sleep=lambda s: None, **kwargs)


# ---- hostile servers that echo the key back ----------------------------------------------

ECHO = f"your key {CANARY} is not valid"
PAGE = f"<html><body><h1>Forbidden</h1><p>Authorization: Bearer {CANARY}</p></body></html>"

ECHOING_REPLIES: dict[str, Callable[[int], Reply]] = {
    "401 message": lambda port: Reply.json({"message": ECHO}, 401),
    "403 errors list": lambda port: Reply.json(
        {"message": "forbidden", "errors": [ECHO, {"key": CANARY, "nested": [CANARY]}]}, 403),
    "400 errors object": lambda port: Reply.json({"message": "bad", "errors": {"api_key": CANARY}}, 400),
    "429 message": lambda port: Reply.json({"message": ECHO}, 429, {"Retry-After": "1"}),
    "500 html": lambda port: Reply.raw(PAGE, 500),
    "503 json": lambda port: Reply.json({"message": ECHO, "errors": [CANARY]}, 503),
    "200 html": lambda port: Reply.raw(PAGE, 200),
    "200 not success": lambda port: Reply.json({"message": ECHO, "errors": [CANARY]}),
    "200 no message": lambda port: Reply.json({"data": [], "echo": CANARY}),
    "200 truncated": lambda port: Reply.truncated(f'{{"message": "success", "echo": "{CANARY}'),
    "302 to the key": lambda port: Reply.raw(
        "", 302, {"Location": f"http://127.0.0.1:{port}/{CANARY}/campaigns/data_series?key={CANARY}"}),
    "307 relative": lambda port: Reply.raw("", 307, {"Location": f"/{CANARY}?k={CANARY}"}),
    "reset": lambda port: Reply.reset(),
}


@pytest.fixture
def other_server() -> Iterator[ScriptedServer]:
    """A second server on another port: the target of redirects."""
    with ScriptedServer() as server:
        yield server


@pytest.mark.parametrize("case", list(ECHOING_REPLIES))
def test_no_error_shows_the_key(case: str, other_server: ScriptedServer,
                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with ScriptedServer() as server, client_for(server.url, max_retries=1) as client:
        server.enqueue(*(ECHOING_REPLIES[case](other_server.port) for _ in range(2)))
        with pytest.raises(bf.BrazeError) as info:
            client.data_series("c1", length=7, ending_at="2025-06-30")
        requests_seen = server.requests
    assert_exception_clean(info.value)
    assert_clean(info.value, client, client.stats)
    assert CANARY not in (info.value.url or "")
    assert CANARY not in str(getattr(info.value, "hint", ""))
    # The key went out only in the Authorization header, and never to the other server.
    for request in requests_seen:
        assert request.headers["authorization"] == f"Bearer {CANARY}"
        others = [v for k, v in request.headers.items() if k != "authorization"]
        assert CANARY not in f"{request.path}?{request.raw_query} {others} {request.body!r}"
    assert other_server.requests == []
    assert_logs_clean(caplog)


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "DEBUG logging captured nothing: the check would be empty"
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert CANARY not in text, (record.name, text)


def test_library_and_transport_logs_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("braze_frames", "urllib3", "requests"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    replies = [Reply.json({"message": ECHO}, 503), Reply.reset(),
               Reply.json({"message": "success", "data": [], "echo": CANARY})]
    try:
        with ScriptedServer() as server, client_for(server.url, max_retries=3) as client:
            server.enqueue(*replies)
            client.data_series("c1", length=7, ending_at="2025-06-30")
    finally:
        for name in ("braze_frames", "urllib3", "requests"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    names = {r.name.split(".")[0] for r in caplog.records}
    assert {"braze_frames", "urllib3"} <= names  # both spoke, and urllib3 logged the URL
    assert any("/campaigns/data_series?campaign_id=c1" in r.getMessage() for r in caplog.records)
    assert_logs_clean(caplog)


def test_client_state_holds_the_key_only_in_its_auth_object() -> None:
    client = bf.BrazeClient(CANARY, "http://127.0.0.1:9")
    assert_clean(client, client.stats, client.stats.as_dict())
    assert repr(client) == "BrazeClient(rest_endpoint='http://127.0.0.1:9')"
    session = client._session
    assert "Authorization" not in session.headers and session.auth is None
    for name, value in vars(client).items():
        if name != "_auth":
            assert CANARY not in repr(value), name
    with pytest.raises(TypeError):
        pickle.dumps(client)
    with pytest.raises(TypeError):
        copy.deepcopy(client)
    with pytest.raises(TypeError):
        pickle.dumps(client._auth)
    client.close()


@pytest.mark.parametrize("bad", [f"{CANARY}\nX-Injected: 1", f"Bearer {CANARY}", f"{CANARY} x",
                                 f"'{CANARY}\"", f"{CANARY}é"])
def test_config_errors_never_echo_the_key(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(bf.ConfigError) as info:
        bf.BrazeClient(bad, "https://rest.iad-01.braze.com")
    assert_exception_clean(info.value)
    monkeypatch.setenv(ENV_API_KEY, bad)
    with pytest.raises(bf.ConfigError) as info:
        bf.BrazeClient(rest_endpoint="US-01")
    assert_exception_clean(info.value)


# ---- results, files, the command line ----------------------------------------------------


def proxy(sb: Sandbox) -> Callable[[RecordedRequest], Reply]:
    """Serve the sandbox to a client holding the canary (the sandbox mints its own keys).

    A wrong key gets a 401 that echoes it in full, as a careless gateway would.
    """

    def handler(request: RecordedRequest) -> Reply:
        auth = request.headers.get("authorization") or ""
        if auth != f"Bearer {CANARY}":
            return Reply.json({"message": f"Invalid API key: {auth}"}, 401)
        upstream = requests.get(sb.url + request.path, params=request.query, timeout=30,
                                headers={"Authorization": f"Bearer {sb.api_key}"})
        headers = [(k, v) for k, v in upstream.headers.items() if k.lower().startswith("x-ratelimit")]
        return Reply(upstream.status_code, upstream.content,
                     (("Content-Type", upstream.headers.get("Content-Type", "application/json")), *headers))

    return handler


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=2, today=TODAY, n_campaigns=4) as sb:
        yield sb


@pytest.fixture
def canary_server(sandbox: Sandbox) -> Iterator[ScriptedServer]:
    """The sandbox's data for the canary key; anything else is refused."""
    with ScriptedServer(handler=proxy(sandbox)) as server:
        yield server


def test_results_and_parquet_files_never_hold_the_key(sandbox: Sandbox, canary_server: ScriptedServer,
                                                      tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ids = sandbox.campaign_ids
    with client_for(canary_server.url) as client:
        result = bf.fetch_data_series([*ids, "no-such-campaign"], length=30, ending_at=TODAY,
                                      client=client, on_error="collect")
    assert isinstance(result, FetchResult)
    assert result.frame.height > 0 and result.failures  # the unknown campaign failed (400)
    assert_clean(result, *result.failures)
    for failure in result.failures:
        assert_exception_clean(failure.error)
    single = write_parquet(result.frame, tmp_path / "one.parquet")
    dataset = write_parquet(result.frame, tmp_path / "store", partition_by=True)
    files = [single, *sorted(p for p in dataset.rglob("*") if p.is_file())]
    assert len(files) > 2
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
        assert CANARY not in str(path)
    assert CANARY not in json.dumps(parquet_metadata(single), default=str)
    assert CANARY not in json.dumps(parquet_metadata(dataset), default=str)
    assert_logs_clean(caplog)


def test_a_wrong_key_fails_cleanly_end_to_end(sandbox: Sandbox) -> None:
    with client_for(sandbox.url) as client:  # the sandbox does not know the canary
        with pytest.raises(bf.AuthenticationError) as info:
            bf.fetch_data_series(sandbox.campaign_ids[0], length=7, ending_at=TODAY, client=client)
        with pytest.warns(bf.FetchFailedWarning) as caught:
            bf.fetch_data_series(sandbox.campaign_ids[0], length=7, ending_at=TODAY, client=client,
                                 on_error="warn")
    assert_exception_clean(info.value)
    assert all(CANARY not in str(w.message) for w in caught)


def run_cli(args: list[str], endpoint: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_API_KEY, ENV_REST_ENDPOINT)}
    env.update({ENV_API_KEY: CANARY, "PYTHONWARNINGS": "default", "BRAZE_FRAMES_DEBUG": ""})
    return subprocess.run(
        [sys.executable, "-m", "braze_frames.cli", *args, "--rest-endpoint", endpoint],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture(scope="module")
def echo_401_url() -> Iterator[str]:
    """A server that answers every request with a 401 echoing the key in full."""

    def handler(request: RecordedRequest) -> Reply:
        return Reply.json({"message": f"Invalid API key: {request.headers.get('authorization')}",
                           "errors": [CANARY]}, 401)

    with ScriptedServer(handler=handler) as server:
        yield server.url


@pytest.fixture
def cli_ready() -> None:
    from braze_frames import cli

    try:
        cli.main(["--version"])
    except NotImplementedError:
        pytest.skip("braze_frames/cli.py is still a stub")
    except SystemExit:
        pass


@pytest.mark.usefixtures("cli_ready")
@pytest.mark.parametrize("verbosity", [[], ["-vv"]], ids=["quiet", "debug"])
def test_cli_output_and_files_never_hold_the_key(sandbox: Sandbox, canary_server: ScriptedServer,
                                                 echo_401_url: str, tmp_path: Path,
                                                 verbosity: list[str]) -> None:
    ids = sandbox.campaign_ids[:2]
    ok = run_cli([*verbosity, "fetch", *ids, "--length", "14", "--ending-at", "2025-06-30",
                  "-o", "out.parquet"], canary_server.url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "wrote" in ok.stdout
    refused = run_cli([*verbosity, "fetch", *ids, "--length", "14", "-o", "no.parquet"], sandbox.url,
                      tmp_path)
    assert refused.returncode == 1
    assert "AuthenticationError" in refused.stderr and "Traceback" not in refused.stderr
    echoed = run_cli([*verbosity, "fetch", ids[0], "--length", "14", "-o", "no.parquet"],
                     echo_401_url, tmp_path)
    assert echoed.returncode == 1
    for run in (ok, refused, echoed):
        assert CANARY not in run.stdout + run.stderr, run.stdout + run.stderr
    if verbosity:
        assert "GET /campaigns/data_series" in ok.stderr  # debug logs were on, and clean
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


# ---- transport rules: https, redirects, TLS verification ---------------------------------


@pytest.mark.parametrize("endpoint", [
    "http://example.com",
    "http://rest.iad-01.braze.com",
    "http://127.0.0.1.example.com",
    "http://localhost.example.com",
    "http://10.0.0.1:8080",
    "http://192.168.1.10",
    "http://[2001:db8::1]",
    "http://0.0.0.0:8080",
    "ftp://127.0.0.1",
])
def test_plain_http_is_refused_off_this_machine(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(bf.ConfigError) as info:
        bf.BrazeClient(CANARY, endpoint)
    assert_exception_clean(info.value)
    monkeypatch.setenv(ENV_REST_ENDPOINT, endpoint)
    with pytest.raises(bf.ConfigError):
        bf.BrazeClient(CANARY)


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1", "http://127.0.0.1:8080", "http://127.0.0.2:1", "http://localhost:5000",
    "http://LOCALHOST", "http://[::1]:8080", "https://example.com", "https://rest.iad-01.braze.com",
])
def test_loopback_http_and_any_https_are_accepted(endpoint: str) -> None:
    with bf.BrazeClient(CANARY, endpoint) as client:
        assert client.rest_endpoint.lower() == endpoint.lower().rstrip("/")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_so_the_key_stays_home(status: int, other_server: ScriptedServer) -> None:
    other_server.handler = lambda r: Reply.json({"message": "success", "data": []})
    target = f"http://127.0.0.1:{other_server.port}/campaigns/data_series?campaign_id=c1&length=7"
    for session in (None, requests.Session()):
        with ScriptedServer() as server, client_for(server.url, session=session) as client:
            server.enqueue(Reply.raw("", status, {"Location": target}))
            with pytest.raises(bf.BrazeAPIError) as info:
                client.data_series("c1", length=7)
        assert info.value.status == status
        assert f"127.0.0.1:{other_server.port}" in str(info.value.hint)
        assert "campaign_id" not in str(info.value.hint)  # the target's query is not repeated
        if session is not None:
            session.close()
    assert other_server.requests == []  # nobody went there, with or without the header


def test_a_session_without_tls_verification_is_refused() -> None:
    session = requests.Session()
    session.verify = False
    with pytest.raises(bf.ConfigError, match="verify=False"):
        bf.BrazeClient(CANARY, "https://rest.iad-01.braze.com", session=session)
    with bf.BrazeClient(CANARY, "https://rest.iad-01.braze.com") as client:
        assert client._session.verify is True


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate: (url, cert path, paths seen)."""
    pytest.importorskip("cryptography")
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"message": "success", "data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.handle_error = lambda *args: None  # type: ignore[method-assign]  # failed handshakes
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", cert, seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("environ", [{}, {"CURL_CA_BUNDLE": ""}, {"REQUESTS_CA_BUNDLE": ""},
                                     {"CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": ""}],
                         ids=["plain", "empty-curl-bundle", "empty-requests-bundle", "both-empty"])
def test_tls_verification_stays_on(tls_server: tuple[str, Path, list[str]], environ: dict[str, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty CURL_CA_BUNDLE is a well-known way to switch verification off in requests.
    url, cert, seen = tls_server
    seen.clear()
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    with client_for(url, max_retries=3) as client:
        with pytest.raises(bf.BrazeConnectionError, match="TLS verification failed") as info:
            client.data_series("c1", length=7)
        assert client.stats.requests == 1  # a certificate failure is not retried
    assert seen == []  # no request was sent over the unverified connection
    assert_exception_clean(info.value)
    # Trusting the certificate explicitly (a private CA) works, so verification was the cause.
    session = requests.Session()
    session.verify = str(cert)
    with client_for(url, session=session) as client:
        assert client.data_series("c1", length=7)["message"] == "success"
    assert seen and all(CANARY not in p for p in seen)
    session.close()
