"""Files: atomic writes, digests and checked downloads.

    write_atomic     write to a temporary file, flush it to disk, then rename: never a half-written file
    file_digest      sha256 (or md5) of a file, read in chunks
    download_file    download once, verify (or record) the checksum, rename only when complete
    verify_download  check a downloaded file against its checksum, or the one recorded at download

Nothing here knows about ViTs, datasets or the checkpoint format: `checkpoints` (the one place that
calls torch.save and torch.load), `data` and `pretrain` build on it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["CorruptArchiveError", "DownloadError", "write_atomic", "file_digest", "download_file", "verify_download"]


class CorruptArchiveError(ValueError):
    """A downloaded file or archive exists but cannot be read (truncated, damaged, wrong file, wrong checksum)."""


class DownloadError(OSError):
    """A download failed (no network, server error)."""


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of a file: algorithm "sha256" (weights) or "md5" (what CIFAR-10 publishes)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download_file(url: str, path: str | os.PathLike, checksum: str | None, algorithm: str = "sha256",
                  hint: str = "then call again") -> Path:
    """Download `url` to `path` (unless it is there already) and verify its checksum; -> path.

    The file is written to a temporary name beside `path` and renamed only once complete and
    verified, so an interrupted or tampered download never leaves a file behind.
    checksum: the expected hex digest (`algorithm`: "sha256" or "md5"). None, for files whose checksum
    is not published, records the digest of what arrived in `path`.sha256 (or .md5) with a warning,
    so that later loads can at least detect a changed or damaged file ("trust on first use").
    Raises DownloadError when offline (the message says where to put a copy made elsewhere),
    ValueError on a checksum mismatch.
    """
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    while block := response.read(1 << 20):
                        out.write(block)
            except (urllib.error.URLError, OSError) as error:
                raise DownloadError(
                    f"could not download {url} ({getattr(error, 'reason', error)}). Are you offline? "
                    f"Download it on a machine with internet access and put it at {path.resolve()}, {hint}"
                ) from error
        actual = file_digest(tmp, algorithm)
        if checksum is not None and actual != checksum:
            raise ValueError(
                f"checksum mismatch for the download of {url}: {algorithm} {actual}, expected {checksum}. The file "
                "may have been damaged in transfer or changed on the server; the partial file was removed, try again"
            )
        if checksum is None:  # nothing published to check against: pin what we got, check it from now on
            Path(f"{path}.{algorithm}").write_text(f"{actual}  {path.name}\n")
            warnings.warn(f"{url} has no checksum known to vitlib; its {algorithm} {actual} is recorded in "
                          f"{path}.{algorithm} and later loads are checked against it", stacklevel=2)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def verify_download(path: str | os.PathLike, checksum: str | None = None, algorithm: str = "sha256",
                    fix: str = "delete it and download it again") -> None:
    """Check a downloaded file against `checksum`, or, without one, against the digest that
    `download_file` recorded at the first download (path.sha256). No checksum and no record: nothing
    to check. A mismatch raises CorruptArchiveError naming both digests and `fix`."""
    record = Path(f"{path}.{algorithm}")
    expected = checksum or (record.read_text().split()[0] if record.is_file() else None)
    if expected is not None and (actual := file_digest(path, algorithm)) != expected:
        raise CorruptArchiveError(f"{path} has {algorithm} {actual}, expected {expected}: it is corrupt or changed; "
                                  f"{fix}")


def write_atomic(path: str | os.PathLike, content: str | bytes | Callable[[BinaryIO], object]) -> Path:
    """Write `content` to `path` atomically; -> path.

    content: text (written as UTF-8), bytes, or a function that writes to an open binary file
    (e.g. `lambda f: torch.save(payload, f)`). It goes to a temporary file in the same folder,
    is flushed to disk, then renamed over `path`. An interruption (an error, Ctrl-C) never leaves a
    half-written file behind: `path` holds the old content or the new, and no temp file stays.
    """
    if not (isinstance(content, (str, bytes)) or callable(content)):
        raise TypeError(f"content must be text, bytes or a function that writes to a binary file, got "
                        f"{type(content).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a checkpoint or manifest is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
