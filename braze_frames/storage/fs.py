"""Where data lives: local paths and object-store URIs behind one small path type.

A local path stays a :class:`pathlib.Path` and keeps the local guarantees (temporary
file, fsync, rename). An object-store URI (``s3://bucket/key``, ``gs://bucket/key``,
``az://container/key``) becomes an :class:`ObjectPath`: the few ``pathlib`` methods the
storage modules use, over pyarrow's filesystem for listing and reading. ``file://`` URIs
are local paths.

Writes on object stores are whole or not at all: the caller builds the file in memory and
:meth:`ObjectPath.put` sends it in one request (S3: one ``PutObject`` through boto3, the
``s3`` extra; an object appears only once the request is complete, so a crash or an error
leaves the old object or none). pyarrow's own S3 output stream is not used for writing: it
is a multipart upload that its destructor completes, so an exception in the middle could
publish a truncated object. GCS and Azure go through pyarrow's filesystems (one write of
the whole buffer, then close); they are supported through the same layer but untested here.

``storage_options`` takes the key names polars and deltalake use (object_store's):
``aws_endpoint_url``, ``aws_allow_http``, ``aws_access_key_id``, ``aws_secret_access_key``,
``aws_session_token``, ``aws_region``, ``aws_skip_signature``,
``aws_virtual_hosted_style_request``; ``azure_storage_account_name`` and
``azure_storage_account_key``. They are translated for pyarrow and boto3, and passed as
they are to polars and deltalake (which know many more, e.g. ``aws_conditional_put``).
Credentials otherwise come from the usual environment (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ``~/.aws``, ``GOOGLE_APPLICATION_CREDENTIALS``,
``AZURE_STORAGE_ACCOUNT_NAME``...), read when a store is opened, never at import.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Final
from urllib.parse import unquote, urlsplit

__all__ = ["ObjectPath", "StorePath", "as_path", "polars_storage_options"]

#: URI schemes and the store they name.
_SCHEMES: Final[Mapping[str, str]] = {
    "s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs", "az": "az", "abfs": "az", "abfss": "az",
}

_TRUE: Final = frozenset({"1", "true", "yes", "on"})

#: object_store (polars, deltalake) key -> the S3 setting it means. The ``aws_`` prefix is
#: optional there, so both spellings are accepted.
_S3_KEYS: Final[Mapping[str, str]] = {
    "access_key_id": "access_key",
    "secret_access_key": "secret_key",
    "session_token": "session_token",
    "token": "session_token",
    "region": "region",
    "default_region": "region",
    "endpoint_url": "endpoint",
    "endpoint": "endpoint",
    "allow_http": "allow_http",
    "skip_signature": "anonymous",
    "virtual_hosted_style_request": "virtual_hosted",
}


class ObjectPath:
    """An object in (or a prefix of) a bucket, with the ``pathlib`` methods storage uses.

    Directories do not exist on object stores: :meth:`mkdir` does nothing, and
    :meth:`is_dir` is true when some object lies under the prefix.

    Examples:
        >>> p = ObjectPath("s3", "bucket/store", {"aws_region": "eu-west-1"})
        >>> str(p / "month=2024-07" / "part-0.parquet")
        's3://bucket/store/month=2024-07/part-0.parquet'
        >>> (p / "x").parent == p, p.name, p.bucket
        (True, 'store', 'bucket')
    """

    def __init__(self, scheme: str, key: str, options: Mapping[str, str] | None = None) -> None:
        self.scheme = scheme
        self.key = key.strip("/")
        self.options: dict[str, str] = dict(options or {})

    # --- naming --------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"{self.scheme}://{self.key}"

    def __repr__(self) -> str:
        # Options may hold secrets: the repr shows the URI only.
        return f"ObjectPath({str(self)!r})"

    def __fspath__(self) -> str:  # pragma: no cover - guard
        msg = f"{self} is an object-store URI, not a local path"
        raise TypeError(msg)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and (self.scheme, self.key) == (other.scheme, other.key)

    def __hash__(self) -> int:
        return hash((self.scheme, self.key))

    def __truediv__(self, name: str) -> ObjectPath:
        return ObjectPath(self.scheme, f"{self.key}/{str(name).strip('/')}", self.options)

    def joinpath(self, *names: str) -> ObjectPath:
        """The path below this one."""
        out = self
        for name in names:
            out = out / name
        return out

    @property
    def name(self) -> str:
        """The last component."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> ObjectPath:
        """The path one component up (the bucket is the top)."""
        head = self.key.rsplit("/", 1)[0] if "/" in self.key else self.key
        return ObjectPath(self.scheme, head, self.options)

    @property
    def bucket(self) -> str:
        """The bucket (or container)."""
        return self.key.split("/", 1)[0]

    @property
    def object_key(self) -> str:
        """The key inside the bucket."""
        return self.key.split("/", 1)[1] if "/" in self.key else ""

    def with_name(self, name: str) -> ObjectPath:
        """The sibling called ``name``."""
        return self.parent / name

    def relative_to(self, other: ObjectPath) -> PurePosixPath:
        """This path relative to ``other``, as a pure path (for its ``parts``)."""
        if not (self.key == other.key or self.key.startswith(other.key + "/")):
            msg = f"{self} is not under {other}"
            raise ValueError(msg)
        return PurePosixPath(self.key[len(other.key):].lstrip("/"))

    def resolve(self) -> ObjectPath:
        """Itself: object keys are already absolute."""
        return self

    # --- reading and listing --------------------------------------------------------------

    @property
    def filesystem(self) -> Any:
        """The pyarrow filesystem that reads this store (paths are ``bucket/key``)."""
        return _filesystem(self.scheme, self.options)

    def _info(self) -> Any:
        return self.filesystem.get_file_info(self.key)

    def exists(self) -> bool:
        """True when an object or a prefix of objects is there."""
        return bool(self._info().type.name != "NotFound")

    def is_file(self) -> bool:
        """True when an object is there."""
        return bool(self._info().type.name == "File")

    def is_dir(self) -> bool:
        """True when objects lie under this prefix (or it is a bucket)."""
        return bool(self._info().type.name == "Directory")

    def mkdir(self, *, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: object stores have no directories."""

    def _listing(self, recursive: bool) -> list[Any]:
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.key, recursive=recursive, allow_not_found=True)
        return list(self.filesystem.get_file_info(selector))

    def iterdir(self) -> Iterator[ObjectPath]:
        """The objects and prefixes right under this one."""
        for info in self._listing(recursive=False):
            yield ObjectPath(self.scheme, info.path, self.options)

    def files(self) -> list[ObjectPath]:
        """Every object under this prefix, sorted (one listing, however deep)."""
        found = [ObjectPath(self.scheme, i.path, self.options)
                 for i in self._listing(recursive=True) if i.type.name == "File"]
        return sorted(found, key=str)

    def glob(self, pattern: str) -> Iterator[ObjectPath]:
        """Objects whose path below this one matches ``pattern`` component by component."""
        wanted = pattern.strip("/").split("/")
        for path in self.files():
            parts = path.relative_to(self).parts
            if len(parts) == len(wanted) and all(
                fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True)
            ):
                yield path

    def rglob(self, pattern: str) -> Iterator[ObjectPath]:
        """Objects at any depth whose name matches ``pattern``."""
        for path in self.files():
            if fnmatch.fnmatchcase(path.name, pattern):
                yield path

    def read_bytes(self) -> bytes:
        """The object's bytes."""
        with self.filesystem.open_input_stream(self.key) as fh:
            return bytes(fh.read())

    def read_text(self, encoding: str = "utf-8") -> str:
        """The object's text."""
        return self.read_bytes().decode(encoding)

    # --- writing --------------------------------------------------------------------------

    def put(self, data: bytes) -> None:
        """Write the object whole, in one request: it appears complete or not at all."""
        if self.scheme == "s3":
            s3_client(self.options).put_object(Bucket=self.bucket, Key=self.object_key, Body=data)
            return
        # GCS and Azure (untested here): one write of the whole buffer, then close.
        with self.filesystem.open_output_stream(self.key) as fh:
            fh.write(data)

    def unlink(self, *, missing_ok: bool = False) -> None:
        """Delete the object."""
        try:
            self.filesystem.delete_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def delete_tree(self) -> None:
        """Delete every object under this prefix."""
        for path in self.files():
            path.unlink(missing_ok=True)


StorePath = Path | ObjectPath


def as_path(
    path: str | os.PathLike[str] | ObjectPath, storage_options: Mapping[str, Any] | None = None
) -> StorePath:
    """A local ``Path``, or an :class:`ObjectPath` for an object-store URI.

    Args:
        path: A local path, a ``file://`` URI, or an ``s3://``, ``gs://`` or ``az://`` URI.
        storage_options: Object-store settings in polars' and deltalake's key names
            (ignored for local paths, as polars ignores them).

    Returns:
        The path.

    Raises:
        ValueError: An unknown URI scheme, or a URI without a bucket.
        TypeError: Options that are not a mapping of strings to strings or booleans.

    Examples:
        >>> as_path("file:///tmp/store")
        PosixPath('/tmp/store')
        >>> as_path("s3://bucket/store", {"aws_allow_http": True})
        ObjectPath('s3://bucket/store')
    """
    options = _check_options(storage_options)
    if isinstance(path, ObjectPath):
        return ObjectPath(path.scheme, path.key, {**path.options, **options})
    if not isinstance(path, str):
        return Path(path)
    parts = urlsplit(path)
    scheme = parts.scheme.lower()
    # "C:\data" parses as scheme "c": a one-letter scheme is a Windows drive.
    if not scheme or len(scheme) == 1:
        return Path(path)
    if scheme == "file":
        return Path(unquote(parts.path))
    if scheme not in _SCHEMES:
        msg = (
            f"cannot write to {path!r}: unknown scheme {parts.scheme!r}; use a local path "
            "or an s3://, gs://, az:// or file:// URI"
        )
        raise ValueError(msg)
    if not parts.netloc:
        msg = f"{path!r} names no bucket: write s3://<bucket>/<prefix>"
        raise ValueError(msg)
    return ObjectPath(_SCHEMES[scheme], f"{parts.netloc}/{parts.path.strip('/')}", options)


def _check_options(options: Mapping[str, Any] | None) -> dict[str, str]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        kind = type(options).__name__  # type: ignore[unreachable]
        msg = f"storage_options must be a mapping of option names to values, not {kind}"
        raise TypeError(msg)
    out: dict[str, str] = {}
    for key, value in options.items():
        if not isinstance(key, str) or not isinstance(value, (str, bool, int)):
            msg = f"storage_options[{key!r}] must be a string (or a boolean), not {value!r}"
            raise TypeError(msg)
        out[key.lower()] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def polars_storage_options(path: StorePath) -> dict[str, str] | None:
    """The options polars' and deltalake's readers take for this path (None when local)."""
    return dict(path.options) if isinstance(path, ObjectPath) else None


def _s3_settings(options: Mapping[str, str]) -> dict[str, str]:
    settings: dict[str, str] = {}
    for key, value in options.items():
        name = key.removeprefix("aws_")
        if name in _S3_KEYS:
            settings[_S3_KEYS[name]] = value
    return settings


_CACHE_LOCK = threading.Lock()
_FILESYSTEMS: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_S3_CLIENTS: dict[tuple[tuple[str, str], ...], Any] = {}


def _filesystem(scheme: str, options: Mapping[str, str]) -> Any:
    key = (scheme, tuple(sorted(options.items())))
    with _CACHE_LOCK:
        if key not in _FILESYSTEMS:
            _FILESYSTEMS[key] = _make_filesystem(scheme, options)
        return _FILESYSTEMS[key]


def _make_filesystem(scheme: str, options: Mapping[str, str]) -> Any:
    import pyarrow.fs as pafs

    if scheme == "s3":
        s = _s3_settings(options)
        kwargs: dict[str, Any] = {}
        for ours, theirs in (("access_key", "access_key"), ("secret_key", "secret_key"),
                             ("session_token", "session_token"), ("region", "region")):
            if ours in s:
                kwargs[theirs] = s[ours]
        if "endpoint" in s:
            kwargs["endpoint_override"] = s["endpoint"]
            if s["endpoint"].startswith("http://"):
                kwargs["scheme"] = "http"
        if s.get("allow_http", "").lower() in _TRUE:
            kwargs["scheme"] = "http"
        if s.get("anonymous", "").lower() in _TRUE:
            kwargs["anonymous"] = True
        if s.get("virtual_hosted", "").lower() in _TRUE:
            kwargs["force_virtual_addressing"] = True
        return pafs.S3FileSystem(**kwargs)
    if scheme == "gs":
        anonymous = options.get("google_skip_signature", "").lower() in _TRUE
        return pafs.GcsFileSystem(anonymous=anonymous)
    account = options.get("azure_storage_account_name") or options.get("account_name") \
        or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
    if not account:
        msg = ("az:// needs the storage account: set AZURE_STORAGE_ACCOUNT_NAME or "
               "storage_options={'azure_storage_account_name': ...}")
        raise ValueError(msg)
    key = options.get("azure_storage_account_key") or options.get("account_key") \
        or os.environ.get("AZURE_STORAGE_ACCOUNT_KEY")
    return pafs.AzureFileSystem(account_name=account, account_key=key)


def s3_client(options: Mapping[str, str]) -> Any:
    """A boto3 S3 client for these options (the ``s3`` extra), shared between threads."""
    key = tuple(sorted(options.items()))
    with _CACHE_LOCK:
        if key in _S3_CLIENTS:
            return _S3_CLIENTS[key]
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        msg = ("writing to s3:// needs boto3: pip install 'braze-frames[s3]' "
               "(reading works without it)")
        raise ImportError(msg) from exc
    s = _s3_settings(options)
    kwargs: dict[str, Any] = {}
    for ours, theirs in (("access_key", "aws_access_key_id"), ("secret_key", "aws_secret_access_key"),
                         ("session_token", "aws_session_token"), ("region", "region_name"),
                         ("endpoint", "endpoint_url")):
        if ours in s:
            kwargs[theirs] = s[ours]
    config: dict[str, Any] = {"retries": {"max_attempts": 5, "mode": "standard"}}
    if s.get("virtual_hosted", "").lower() in _TRUE:
        config["s3"] = {"addressing_style": "virtual"}
    if s.get("anonymous", "").lower() in _TRUE:
        from botocore import UNSIGNED

        config["signature_version"] = UNSIGNED
    client = boto3.session.Session().client("s3", config=Config(**config), **kwargs)
    with _CACHE_LOCK:
        return _S3_CLIENTS.setdefault(key, client)
