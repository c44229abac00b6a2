"""The recordings store: the one folder where call audio lives.

The database keeps each recording's path *relative* to the store, so a store
can move (another drive, a network share) without rewriting rows, and every
workstation resolves the same row to the same file. ARCHITECTURE.md: "no path
may escape it". ``resolve`` is the only way code turns a stored path into a
file name, and it refuses, with ``ValidationError``:

* an empty path, a NUL byte or another control character;
* an absolute path (``/etc/passwd``, ``C:\\x``, ``\\\\server\\share``, ``C:x``);
* a ``..`` component (``/`` and ``\\`` both separate components, so a path
  written on Windows means the same on Linux);
* any path whose real location, after following symbolic links, is outside
  the store's real root (a link inside the store pointing elsewhere).

Files are added atomically: copied to a temporary file in the destination's
own folder, flushed and fsynced, then renamed over the final name with
``os.replace``; a reader never sees half a file and a failure leaves no
temporary file behind.

``.pending-delete`` inside the store is where erasure and retention move files
before the rows change (ARCHITECTURE.md privacy rules: "move files to a
pending-delete area inside the store first, delete after commit").
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from rcrm_desktop import paths
from rcrm_desktop.errors import ValidationError

PENDING_DIR_NAME = ".pending-delete"
TEMP_SUFFIX = ".part"
_CHUNK = 1024 * 1024


def sha256_of(path: Path | str) -> str:
    """SHA-256 of a file's content, read in 1 MiB chunks (recordings may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredFile:
    """A file now in the store: its store-relative path, absolute path, size and SHA-256."""

    relative: str
    path: Path
    size_bytes: int
    sha256: str


def _split(relative: str) -> list[str]:
    """The path's components after every check that does not need the file system."""
    if not isinstance(relative, str):
        raise ValidationError("A recording path must be text.")
    if "\x00" in relative:
        raise ValidationError("The recording path contains a NUL byte; it is refused.")
    if not relative.strip():
        raise ValidationError("The recording path is empty.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in relative):
        raise ValidationError("The recording path contains control characters; it is refused.")
    if len(relative) > 500:
        raise ValidationError(f"The recording path is {len(relative):,} characters long; at most 500 are allowed.")
    shown = relative[:120]
    if (PurePosixPath(relative).is_absolute() or relative.startswith(("\\", "/"))
            or PureWindowsPath(relative).drive or PureWindowsPath(relative).is_absolute()):
        raise ValidationError(
            f"“{shown}” is an absolute path; recordings are named relative to the store's folder."
        )
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValidationError(f"“{shown}” contains “..”; a recording path may not leave the store's folder.")
    if not parts:
        raise ValidationError(f"“{shown}” names the store's folder itself, not a file in it.")
    return parts


class RecordingsStore:
    """A recordings store rooted at ``root`` (created when missing).

    Guarantees: every path ``resolve`` returns lies inside the real root, and
    ``relative_path`` only answers for files inside it.
    """

    def __init__(self, root: Path | str, *, create: bool = True) -> None:
        given = Path(root).expanduser()
        if create:
            try:
                given.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValidationError(
                    f"The recordings store {given} cannot be created: {exc.strerror or exc}."
                ) from exc
        if not given.is_dir():
            raise ValidationError(f"The recordings store {given} does not exist or is not a folder.")
        self.root = Path(os.path.realpath(given))

    def __repr__(self) -> str:
        return f"RecordingsStore({str(self.root)!r})"

    # ------------------------------------------------------------ paths

    def resolve(self, relative: str) -> Path:
        """The absolute path of a store-relative path, after refusing every escape (see module doc)."""
        parts = _split(relative)
        candidate = self.root.joinpath(*parts)
        real = Path(os.path.realpath(candidate))
        if real != self.root and not real.is_relative_to(self.root):
            raise ValidationError(
                f"“{relative[:120]}” leads outside the recordings store (through a symbolic link); it is refused."
            )
        if real == self.root:
            raise ValidationError(f"“{relative[:120]}” names the store's folder itself, not a file in it.")
        return candidate

    def relative_path(self, abs_path: Path | str) -> str:
        """The store-relative path (``/``-separated) of a file inside the store; refuses one outside it."""
        real = Path(os.path.realpath(abs_path))
        if real == self.root or not real.is_relative_to(self.root):
            raise ValidationError(f"{abs_path} is not inside the recordings store {self.root}.")
        return real.relative_to(self.root).as_posix()

    def exists(self, relative: str) -> bool:
        return self.resolve(relative).is_file()

    @property
    def pending_dir(self) -> Path:
        """``.pending-delete`` inside the store (created on first use), for erasure and retention."""
        path = self.root / PENDING_DIR_NAME
        path.mkdir(exist_ok=True)
        return path

    # ------------------------------------------------------------ adding files

    def add_file(self, source: Path | str, relative: str, *, overwrite: bool = False) -> StoredFile:
        """Copy ``source`` into the store at ``relative``, atomically; returns size and SHA-256.

        The hash is computed from the bytes written, so it describes the stored
        copy. Refuses to replace an existing file unless ``overwrite``.
        """
        src = Path(source)
        try:
            handle = src.open("rb")
        except FileNotFoundError as exc:
            raise ValidationError(f"The file {src} does not exist.") from exc
        except IsADirectoryError as exc:
            raise ValidationError(f"{src} is a folder, not an audio file.") from exc
        except OSError as exc:
            raise ValidationError(f"The file {src} cannot be read: {exc.strerror or exc}.") from exc
        with handle:
            return self._write(handle, relative, overwrite=overwrite)

    def write_bytes(self, relative: str, data: bytes, *, overwrite: bool = False) -> StoredFile:
        """Store ``data`` at ``relative`` with the same atomic guarantee as ``add_file``."""
        return self._write(io.BytesIO(data), relative, overwrite=overwrite)

    def _write(self, source: BinaryIO, relative: str, *, overwrite: bool) -> StoredFile:
        target = self.resolve(relative)
        if target.exists() and not overwrite:
            raise ValidationError(f"The recordings store already has a file “{relative[:120]}”.")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"Cannot create the folder {target.parent}: {exc.strerror or exc}.") from exc
        # The folder now exists: check again that it (and any link in it) stays inside the store.
        target = self.resolve(relative)
        temp = target.parent / f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        digest = hashlib.sha256()
        size = 0
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o640)
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise ValidationError(
                f"Could not write “{relative[:120]}” into the recordings store: {exc.strerror or exc}."
            ) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        _fsync_dir(target.parent)
        return StoredFile(self.relative_path(target), target, size, digest.hexdigest())

    def remove(self, relative: str) -> bool:
        """Delete one file of the store (for undoing work that never reached the database)."""
        target = self.resolve(relative)
        try:
            mode = target.lstat().st_mode
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(mode):
            raise ValidationError(f"“{relative[:120]}” is a folder, not a recording.")
        target.unlink()
        return True

    def leftover_temp_files(self) -> list[Path]:
        """Temporary files of interrupted copies (a clean store has none)."""
        return sorted(p for p in self.root.rglob(f".*{TEMP_SUFFIX}") if p.is_file())


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def configured_root() -> Path:
    """The store folder of the connected instance: setting ``recordings_root``, else the default."""
    from rcrm_desktop.core.instance import get_setting

    text = get_setting("recordings_root").strip()
    return Path(text).expanduser() if text else paths.default_recordings_root()


def open_store(root: Path | str | None = None, *, create: bool = True) -> RecordingsStore:
    """The instance's recordings store, or the one at ``root`` (tests, imports into another store)."""
    return RecordingsStore(root if root is not None else configured_root(), create=create)
