"""The recordings store refuses every path that escapes it and copies files atomically."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from rcrm_desktop.core import store as store_mod
from rcrm_desktop.core.store import PENDING_DIR_NAME, RecordingsStore, open_store, sha256_of
from rcrm_desktop.errors import ValidationError


@pytest.fixture
def store(tmp_path: Path) -> RecordingsStore:
    return RecordingsStore(tmp_path / "store")


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/etc/passwd", "absolute"),
        ("\\\\server\\share\\x.wav", "absolute"),
        ("C:\\calls\\x.wav", "absolute"),
        ("C:x.wav", "absolute"),
        ("//x.wav", "absolute"),
        ("../x.wav", r"“\.\.”"),
        ("a/../../x.wav", r"“\.\.”"),
        ("a/..", r"“\.\.”"),
        ("..\\x.wav", r"“\.\.”"),
        ("a\\..\\..\\x.wav", r"“\.\.”"),
        ("a/x\x00.wav", "NUL"),
        ("a/x\n.wav", "control"),
        (".", "store's folder"),
        ("./", "store's folder"),
    ],
)
def test_escapes_are_refused(store: RecordingsStore, relative: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        store.resolve(relative)


def test_symlink_pointing_out_is_refused(store: RecordingsStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.wav").write_bytes(b"x")
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    (store.root / "file-link.wav").symlink_to(outside / "secret.wav")
    (store.root / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    for relative in ("link/secret.wav", "link/new.wav", "file-link.wav", "dangling.wav", "link"):
        with pytest.raises(ValidationError, match="outside the recordings store"):
            store.resolve(relative)
    with pytest.raises(ValidationError, match="outside"):
        store.add_file(outside / "secret.wav", "link/copied.wav")
    assert not (outside / "copied.wav").exists()


def test_symlink_inside_the_store_is_accepted(store: RecordingsStore) -> None:
    (store.root / "real").mkdir()
    (store.root / "alias").symlink_to(store.root / "real", target_is_directory=True)
    assert store.resolve("alias/a.wav") == store.root / "alias" / "a.wav"


def test_root_reached_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real-store"
    real.mkdir()
    (tmp_path / "store-link").symlink_to(real, target_is_directory=True)
    store = RecordingsStore(tmp_path / "store-link")
    assert store.root == real.resolve()
    stored = store.write_bytes("2026/01/a.wav", b"RIFF")
    assert stored.relative == "2026/01/a.wav"
    assert (real / "2026" / "01" / "a.wav").read_bytes() == b"RIFF"


@pytest.mark.parametrize("relative", ["a.wav", "2026/03/31/call-1.wav", "./a/./b.wav", "a//b.wav",
                                      "a\\b.wav", "Šťastný ..wav", "..hidden.wav", "x..y/z.wav"])
def test_normal_paths_are_accepted(store: RecordingsStore, relative: str) -> None:
    path = store.resolve(relative)
    assert path.is_relative_to(store.root)
    assert store.relative_path(path) == path.relative_to(store.root).as_posix()


def test_relative_path_refuses_outside(store: RecordingsStore, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not inside"):
        store.relative_path(tmp_path / "elsewhere.wav")
    with pytest.raises(ValidationError, match="not inside"):
        store.relative_path(store.root)
    assert store.relative_path(store.root / "a" / "b.wav") == "a/b.wav"


def test_add_file_copies_atomically(store: RecordingsStore, tmp_path: Path) -> None:
    source = tmp_path / "source.wav"
    data = os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes(data)
    stored = store.add_file(source, "2026/04/call.wav")
    assert stored.relative == "2026/04/call.wav"
    assert stored.size_bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest() == sha256_of(stored.path)
    assert stored.path.read_bytes() == data
    assert source.exists()  # a copy, not a move
    assert store.leftover_temp_files() == []
    assert sorted(p.name for p in stored.path.parent.iterdir()) == ["call.wav"]


def test_add_file_refuses_to_overwrite(store: RecordingsStore, tmp_path: Path) -> None:
    source = tmp_path / "s.wav"
    source.write_bytes(b"one")
    store.add_file(source, "a.wav")
    source.write_bytes(b"two")
    with pytest.raises(ValidationError, match="already has"):
        store.add_file(source, "a.wav")
    assert (store.root / "a.wav").read_bytes() == b"one"
    assert store.add_file(source, "a.wav", overwrite=True).size_bytes == 3
    assert (store.root / "a.wav").read_bytes() == b"two"
    assert store.leftover_temp_files() == []


def test_failed_copy_leaves_no_temp_file(store: RecordingsStore, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        store.add_file(tmp_path / "missing.wav", "a.wav")

    source = tmp_path / "s.wav"
    source.write_bytes(b"x" * 100)

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_mod.os, "replace", broken_replace)
    with pytest.raises(ValidationError, match="No space left"):
        store.add_file(source, "b/a.wav")
    monkeypatch.undo()
    assert store.leftover_temp_files() == []
    assert not (store.root / "b" / "a.wav").exists()


def test_pending_dir_is_inside_the_store(store: RecordingsStore) -> None:
    pending = store.pending_dir
    assert pending == store.root / PENDING_DIR_NAME
    assert pending.is_dir()
    assert store.relative_path(pending / "x.wav") == f"{PENDING_DIR_NAME}/x.wav"


def test_remove(store: RecordingsStore) -> None:
    store.write_bytes("a/b.wav", b"x")
    assert store.exists("a/b.wav")
    assert store.remove("a/b.wav") is True
    assert store.remove("a/b.wav") is False
    with pytest.raises(ValidationError, match="folder"):
        store.remove("a")


def test_open_store_uses_the_default_root_without_instance_setting(sqlite_instance: object) -> None:
    from rcrm_desktop import paths
    from rcrm_desktop.core.instance import set_system_setting

    assert open_store().root == paths.default_recordings_root().resolve()
    set_system_setting("recordings_root", str(paths.data_dir() / "elsewhere"))
    assert open_store().root == (paths.data_dir() / "elsewhere").resolve()


def test_store_root_must_be_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(ValidationError):
        RecordingsStore(file)
    with pytest.raises(ValidationError, match="does not exist"):
        RecordingsStore(tmp_path / "missing", create=False)
