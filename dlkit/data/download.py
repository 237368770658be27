"""Downloading dataset files once, into a cache, verified by SHA-256 (chapter 06).

Where files live: ``root/NAME`` if ``root`` is given, else ``$DLKIT_DATA/NAME``, else
``~/.cache/dlkit/datasets/NAME``. Each file is fetched from the first mirror that answers,
written under a temporary name and renamed only once complete and verified, so an interrupted
download never leaves a half file behind. A cached file with the wrong checksum is deleted and
downloaded again once; a second mismatch is an error.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "DLKIT_DATA"
USER_AGENT = "dlkit/0.1 (course datasets; python urllib)"
CHUNK = 1 << 20


class DatasetUnavailable(RuntimeError):
    """A dataset's files could not be found, downloaded or verified (chapter 06)."""


class ChecksumMismatch(DatasetUnavailable):
    """A downloaded file's SHA-256 is not the published one, even after downloading again."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name on the mirrors and its published SHA-256."""

    filename: str
    sha256: str


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The cache folder of dataset ``name`` (see the module docstring for the lookup order)."""
    if root is not None:
        base = Path(root)
    elif os.environ.get(DATA_ENV):
        base = Path(os.environ[DATA_ENV])
    else:
        base = Path.home() / ".cache" / "dlkit" / "datasets"
    return base.expanduser() / name


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    name: str,
    files: Sequence[RemoteFile],
    mirrors: Sequence[str],
    root: str | os.PathLike | None = None,
    download: bool = True,
    offline_alternative: str = "",
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Make sure every file of dataset ``name`` is in its cache folder, verified (chapter 06).

    Returns ``{filename: path}``. Raises :class:`DatasetUnavailable` when a file is missing
    and cannot be downloaded (its message names ``offline_alternative`` and the folder where
    the files can be placed by hand), :class:`ChecksumMismatch` when a file stays corrupt.
    """
    if not mirrors:
        raise ValueError(f"expected at least one mirror URL for {name}, got none")
    folder = dataset_dir(name, root)
    advice = f"You can place {[f.filename for f in files]} by hand in {folder}"
    if offline_alternative:
        advice += f", or use the offline dataset {offline_alternative} instead"
    return {
        remote.filename: _fetch_one(name, remote, folder, mirrors, download, advice + ".", timeout)
        for remote in files
    }


def _fetch_one(
    name: str,
    remote: RemoteFile,
    folder: Path,
    mirrors: Sequence[str],
    download: bool,
    advice: str,
    timeout: float,
) -> Path:
    path = folder / remote.filename
    if path.exists():
        found = sha256_of(path)
        if found == remote.sha256:
            return path
        path.unlink()  # corrupt or truncated: delete it and download once more
        print(f"{path} had SHA-256 {found}, expected {remote.sha256}; deleted", file=sys.stderr)
    if not download:
        raise DatasetUnavailable(
            f"{name}: no verified {remote.filename} in {folder}, and download=False. {advice}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.filename
        try:
            found = _download(url, path, remote.sha256, timeout)
        except (OSError, ValueError, http.client.HTTPException) as error:  # URLError is an OSError
            failures.append(f"{url}: {getattr(error, 'reason', error)}")
            continue
        if found == remote.sha256:
            return path
        failures.append(f"{url}: SHA-256 {found}, expected {remote.sha256}")
    tried = "\n  ".join(failures)
    if any("SHA-256" in f for f in failures):
        raise ChecksumMismatch(
            f"{name}: every copy of {remote.filename} failed verification:\n  {tried}\n{advice}"
        )
    raise DatasetUnavailable(
        f"{name}: could not download {remote.filename} (are you offline?):\n  {tried}\n{advice}"
    )


def _download(url: str, path: Path, sha256: str, timeout: float) -> str:
    """Stream ``url`` into a temporary file next to ``path``; rename it to ``path`` only if it
    is complete and its SHA-256 is ``sha256``. Returns the SHA-256 found."""
    print(f"downloading {url} -> {path}", file=sys.stderr)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.sha256()
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(request, timeout=timeout) as response,
        ):
            expected = response.headers.get("Content-Length")
            received = 0
            for block in iter(lambda: response.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
                received += len(block)
        if expected is not None and received != int(expected):
            # http.client returns a short body without raising when the server hangs up
            raise ConnectionError(f"download cut off after {received} of {expected} bytes")
        if digest.hexdigest() == sha256:
            os.replace(temp, path)  # atomic on one file system: never a half or bad file
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return digest.hexdigest()
