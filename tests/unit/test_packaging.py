"""The installers: the PyInstaller spec per platform, the .deb, the Windows/macOS templates, the metadata.

What needs no build runs everywhere: the spec is evaluated with fake
PyInstaller classes and a faked ``sys.platform`` (Linux, Windows, macOS), the
installer templates are rendered, the .deb layout and maintainer scripts are
built from a fake bundle. What needs a built bundle (``make package``) skips
with that reason when ``dist/`` has none; CI builds it after ``make test`` and
runs this file again with ``RCRM_TEST_DEB_INSTALL=1`` to install the .deb,
self-test it, purge it and check that user data survived.
"""

from __future__ import annotations

import os
import pkgutil
import re
import shutil
import struct
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from rcrm_desktop import APP_ID, EXECUTABLE, __version__

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "rcrm-desktop.spec"
DIST = ROOT / "dist"
BUNDLE = DIST / "rcrm-desktop"

sys.path.insert(0, str(PACKAGING))
import build_deb  # noqa: E402
import render_installer  # noqa: E402

sys.path.remove(str(PACKAGING))


# ---------------------------------------------------------------- the spec, evaluated with fake PyInstaller


class Recorder:
    """Stands in for PyInstaller's Analysis/PYZ/EXE/COLLECT/BUNDLE: records how the spec calls it."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Recorder.calls.append((type(self).__name__, args, kwargs))
        self.args = args
        self.kwargs = kwargs


FAKE_BINARIES = [
    ("PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so", "/venv/PySide6/Qt/plugins/multimedia/x.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "/venv/PySide6/Qt/plugins/platforms/libqxcb.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "/venv/p/libqoffscreen.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqeglfs.so", "/venv/p/libqeglfs.so", "BINARY"),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/venv/p/libqgtk3.so", "BINARY"),
    ("PySide6/Qt/plugins/imageformats/libqpdf.so", "/venv/p/libqpdf.so", "BINARY"),
    ("PySide6/Qt/plugins/imageformats/libqsvg.so", "/venv/p/libqsvg.so", "BINARY"),
    ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", "/venv/p/libqsqlite.so", "BINARY"),
    ("PySide6/Qt/lib/libQt6Pdf.so.6", "/venv/PySide6/Qt/lib/libQt6Pdf.so.6", "BINARY"),
    ("PySide6/Qt/lib/libQt6WebEngineCore.so.6", "/venv/PySide6/Qt/lib/libQt6WebEngineCore.so.6", "BINARY"),
    ("PySide6/Qt/lib/libQt6Multimedia.so.6", "/venv/PySide6/Qt/lib/libQt6Multimedia.so.6", "BINARY"),
    ("PySide6/plugins/multimedia/ffmpegmediaplugin.dll", "C:/venv/ffmpegmediaplugin.dll", "BINARY"),
    ("PySide6/plugins/sqldrivers/qsqlite.dll", "C:/venv/qsqlite.dll", "BINARY"),
    ("libX11.so.6", "/usr/lib/x86_64-linux-gnu/libX11.so.6", "BINARY"),
    ("libpython3.11.so.1.0", "/opt/fakepython/lib/libpython3.11.so.1.0", "BINARY"),
    ("python3.11/lib-dynload/_ssl.so", "/usr/lib/python3.11/lib-dynload/_ssl.so", "EXTENSION"),
]


def evaluate_spec(platform: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                  env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the spec as PyInstaller would on ``platform``, with recording fakes; returns its namespace."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    requested: list[str] = []

    def collect_submodules(package: str) -> list[str]:
        requested.append(package)
        module = __import__(package)
        return [package] + [m.name for m in pkgutil.walk_packages(module.__path__, package + ".")]

    hooks.collect_submodules = collect_submodules  # type: ignore[attr-defined]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "platform", platform)
    for key in ("RCRM_FFMPEG_DIR", "RCRM_BUNDLE_WITHOUT_FFMPEG", "RCRM_CODESIGN_IDENTITY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)

    class Analysis(Recorder):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # PyInstaller turns (source, folder) pairs into (destination, source, typecode) entries.
            self.binaries = list(FAKE_BINARIES) + [(f"{folder}/{Path(source).name}", source, "BINARY")
                                                   for source, folder in kwargs["binaries"]]
            self.datas = [("PySide6/Qt/qml/QtQuick/qmldir", "/venv/qmldir", "DATA"),
                          ("qtawesome/fonts/materialdesignicons6-webfont-6.9.96.ttf", "/venv/mdi6.ttf", "DATA")]
            self.pure: list[Any] = []
            self.scripts: list[Any] = []

    fakes = {name: type(name, (Recorder,), {}) for name in ("PYZ", "EXE", "COLLECT", "BUNDLE")}
    Recorder.calls = []
    namespace: dict[str, Any] = {"SPECPATH": str(PACKAGING), "workpath": str(tmp_path / "work"),
                                 "Analysis": Analysis, **fakes, "__name__": "__main__"}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    namespace["_requested"] = requested
    namespace["_calls"] = list(Recorder.calls)
    return namespace


def calls_named(namespace: dict[str, Any], name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return [(args, kwargs) for kind, args, kwargs in namespace["_calls"] if kind == name]


@pytest.fixture
def ffmpeg_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ffmpeg"
    folder.mkdir()
    for name in ("ffmpeg", "ffprobe", "ffmpeg.exe", "ffprobe.exe"):
        (folder / name).write_bytes(b"fake")
    return folder


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_spec_collects_what_the_program_needs_on_every_platform(platform: str, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path, ffmpeg_dir: Path) -> None:
    ns = evaluate_spec(platform, monkeypatch, tmp_path, {"RCRM_FFMPEG_DIR": str(ffmpeg_dir)})
    ((_, analysis),) = calls_named(ns, "Analysis")
    assert ns["_requested"] == ["rcrm_desktop"], "every rcrm_desktop submodule must be collected"
    hidden = set(analysis["hiddenimports"])
    for module in ("rcrm_desktop.db.migrations", "rcrm_desktop.selftest", "rcrm_desktop.cli",
                   "rcrm_desktop.benchmarks.startup", "rcrm_desktop.ui.app", "rcrm_desktop.audio.synth",
                   "PySide6.QtMultimedia", "PySide6.QtSvg", "psycopg2", "pymysql", "argon2"):
        assert module in hidden
    excluded = set(analysis["excludes"])
    for module in ("tkinter", "pytest", "PySide6.QtWebEngineCore", "PySide6.Qt3DCore", "PySide6.QtQuick3D",
                   "PySide6.QtPdf"):
        assert module in excluded
    assert not excluded & {"PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtCore", "PySide6.QtMultimedia",
                           "PySide6.QtSvg"}, "QPdfWriter lives in QtGui: QtGui must stay"
    assert (str(ROOT / "resources"), "resources") in analysis["datas"]
    assert analysis["pathex"] == [str(ROOT)]
    (scripts, *_), _ = calls_named(ns, "Analysis")[0]
    assert scripts == [str(ROOT / "rcrm_desktop" / "__main__.py")]

    exes = calls_named(ns, "EXE")
    assert exes[0][1]["name"] == EXECUTABLE and exes[0][1]["console"] is False and exes[0][1]["upx"] is False
    ((_, coll),) = calls_named(ns, "COLLECT")
    assert coll["upx"] is False and coll["name"] == EXECUTABLE
    kept = {dest for dest, _src, _kind in ns["a"].binaries}
    assert "PySide6/Qt/lib/libQt6Pdf.so.6" not in kept and "PySide6/Qt/lib/libQt6WebEngineCore.so.6" not in kept
    assert "PySide6/Qt/lib/libQt6Multimedia.so.6" in kept
    assert "PySide6/Qt/plugins/imageformats/libqsvg.so" in kept
    assert not any("sqldrivers" in dest for dest in kept)
    assert not any("/qml/" in dest for dest, *_ in ns["a"].datas)
    assert any("qtawesome/fonts" in dest for dest, *_ in ns["a"].datas)


def test_spec_on_linux_leaves_system_libraries_and_ffmpeg_to_the_deb(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    ns = evaluate_spec("linux", monkeypatch, tmp_path)
    kept = {dest for dest, _src, _kind in ns["a"].binaries}
    assert "libX11.so.6" not in kept, "Debian's libx11-6 is a dependency, not bundled"
    assert "libpython3.11.so.1.0" in kept, "the boot loader loads libpython from the bundle"
    assert "python3.11/lib-dynload/_ssl.so" in kept, "standard-library extension modules stay"
    assert {"PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so", "PySide6/Qt/plugins/platforms/libqxcb.so",
            "PySide6/Qt/plugins/platforms/libqoffscreen.so"} <= kept
    assert not kept & {"PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
                       "PySide6/Qt/plugins/imageformats/libqpdf.so"}
    assert not any("resources/ffmpeg" in dest for dest in kept), "the .deb depends on Debian's ffmpeg"
    assert calls_named(ns, "BUNDLE") == []
    assert len(calls_named(ns, "EXE")) == 1


def test_spec_on_windows_adds_a_console_twin_an_ico_and_ffmpeg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               ffmpeg_dir: Path) -> None:
    ns = evaluate_spec("win32", monkeypatch, tmp_path, {"RCRM_FFMPEG_DIR": str(ffmpeg_dir)})
    exes = calls_named(ns, "EXE")
    assert [e[1]["name"] for e in exes] == [EXECUTABLE, f"{EXECUTABLE}-cli"]
    assert [e[1]["console"] for e in exes] == [False, True]
    icon = Path(exes[0][1]["icon"])
    assert icon.suffix == ".ico" and icon.read_bytes()[:4] == b"\x00\x00\x01\x00"
    bundled = {dest for dest, _src, _kind in ns["a"].binaries if dest.startswith("resources/ffmpeg/")}
    assert bundled == {"resources/ffmpeg/ffmpeg.exe", "resources/ffmpeg/ffprobe.exe"}
    assert "PySide6/plugins/multimedia/ffmpegmediaplugin.dll" in {d for d, *_ in ns["a"].binaries}
    assert "PySide6/plugins/sqldrivers/qsqlite.dll" not in {d for d, *_ in ns["a"].binaries}
    assert "libX11.so.6" in {d for d, *_ in ns["a"].binaries}, "system-library filtering is for Linux only"
    assert calls_named(ns, "BUNDLE") == []


def test_spec_on_macos_builds_an_app_bundle_with_its_info_plist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                ffmpeg_dir: Path) -> None:
    ns = evaluate_spec("darwin", monkeypatch, tmp_path, {"RCRM_FFMPEG_DIR": str(ffmpeg_dir)})
    ((_, bundle),) = calls_named(ns, "BUNDLE")
    assert bundle["name"] == "RCRM Desktop.app"
    assert bundle["bundle_identifier"] == APP_ID
    assert bundle["version"] == __version__
    plist = bundle["info_plist"]
    assert plist["CFBundleIdentifier"] == APP_ID
    assert plist["CFBundleShortVersionString"] == __version__ and plist["CFBundleVersion"] == __version__
    assert plist["NSHighResolutionCapable"] is True
    icon = Path(bundle["icon"])
    assert icon.suffix == ".icns" and icon.read_bytes()[:4] == b"icns"
    bundled = {dest for dest, _src, _kind in ns["a"].binaries if dest.startswith("resources/ffmpeg/")}
    assert bundled == {"resources/ffmpeg/ffmpeg", "resources/ffmpeg/ffprobe"}


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_spec_stops_without_ffmpeg_on_windows_and_macos(platform: str, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(SystemExit, match="ffmpeg for .* not found"):
        evaluate_spec(platform, monkeypatch, tmp_path, {"RCRM_FFMPEG_DIR": str(empty)})
    ns = evaluate_spec(platform, monkeypatch, tmp_path,
                       {"RCRM_FFMPEG_DIR": str(empty), "RCRM_BUNDLE_WITHOUT_FFMPEG": "1"})
    assert not any(dest.startswith("resources/ffmpeg/") for dest, *_ in ns["a"].binaries)


def test_spec_platform_helper() -> None:
    ns: dict[str, Any] = {}
    source = SPEC.read_text(encoding="utf-8")
    helper = source[source.index("def target_platform"):source.index("#: Python packages the program never uses")]
    exec(helper, {"sys": sys}, ns)
    assert [ns["target_platform"](p) for p in ("linux", "win32", "darwin", "freebsd13")] == [
        "linux", "windows", "macos", "linux"]


# ---------------------------------------------------------------- Windows and macOS installer templates


def test_installer_templates_render_with_the_version(tmp_path: Path) -> None:
    values = render_installer.template_values("1.4.0rc2")
    written = render_installer.render_all(tmp_path, values)
    assert {p.name for p in written} == {"rcrm-desktop.nsi", "build_dmg.sh"}
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"@[A-Z_]+@", text), f"placeholder left in {path.name}"
        assert "1.4.0rc2" in text

    nsi = (tmp_path / "rcrm-desktop.nsi").read_text(encoding="utf-8")
    assert '!define VERSION_QUAD "1.4.0.0"' in nsi and 'VIProductVersion "${VERSION_QUAD}"' in nsi
    assert "RequestExecutionLevel admin" in nsi  # per-machine
    assert 'InstallDir "$PROGRAMFILES64\\${APP_NAME}"' in nsi
    assert "SetShellVarContext all" in nsi
    assert 'CreateShortcut "$SMPROGRAMS\\${APP_NAME}.lnk"' in nsi  # Start menu
    assert 'WriteUninstaller "$INSTDIR\\uninstall.exe"' in nsi
    assert "Uninstall\\${APP_ID}" in nsi and f'!define APP_ID "{APP_ID}"' in nsi
    uninstall = [line.strip() for line in nsi[nsi.index('Section "Uninstall"'):].splitlines()
                 if line.strip() and not line.strip().startswith(";")]
    assert not [line for line in uninstall if re.search(r"APPDATA|\$PROFILE|\$DOCUMENTS", line)], "user data stays"
    assert 'RMDir /r "$INSTDIR"' not in uninstall, "only the bundle's own folders are removed recursively"
    assert 'RMDir "$INSTDIR"' in uninstall  # removed only when empty
    assert "1.4.0rc2-windows-x64-setup.exe" in nsi

    dmg = (tmp_path / "build_dmg.sh").read_text(encoding="utf-8")
    assert "hdiutil create" in dmg and 'ln -s /Applications "$STAGE/Applications"' in dmg
    assert 'VERSION="1.4.0rc2"' in dmg and 'APP_NAME="RCRM Desktop"' in dmg
    assert os.access(tmp_path / "build_dmg.sh", os.X_OK)
    if shutil.which("sh"):
        assert subprocess.run(["sh", "-n", str(tmp_path / "build_dmg.sh")], check=False).returncode == 0


@pytest.mark.skipif(shutil.which("makensis") is None, reason="makensis not installed (apt-get install nsis)")
def test_nsis_script_compiles(tmp_path: Path) -> None:
    """The rendered script builds a setup program (from a fake bundle), with warnings treated as errors."""
    bundle = tmp_path / "dist" / "rcrm-desktop"
    (bundle / "_internal").mkdir(parents=True)
    for name in ("rcrm-desktop.exe", "rcrm-desktop-cli.exe"):
        (bundle / name).write_bytes(b"MZ")
    (bundle / "_internal" / "base_library.zip").write_bytes(b"PK")
    out = tmp_path / "build" / "installer"
    render_installer.main(["--out", str(out)])
    result = subprocess.run(["makensis", "-V2", "-WX", str(out / "rcrm-desktop.nsi")], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "dist" / f"rcrm-desktop-{__version__}-windows-x64-setup.exe").is_file()


def test_installer_templates_default_to_the_package_version(tmp_path: Path) -> None:
    values = render_installer.template_values()
    assert values["VERSION"] == __version__ and values["APP_ID"] == APP_ID
    nsi = render_installer.render((PACKAGING / "windows/rcrm-desktop.nsi.in").read_text(encoding="utf-8"), values)
    assert f'!define VERSION "{__version__}"' in nsi


def test_render_refuses_a_placeholder_without_a_value() -> None:
    with pytest.raises(KeyError, match="NOPE"):
        render_installer.render("x @VERSION@ @NOPE@", {"VERSION": "1"})


@pytest.mark.parametrize(("version", "quad"), [("0.1.0", "0.1.0.0"), ("1.2", "1.2.0.0"), ("1.2.0rc1", "1.2.0.0"),
                                               ("2.0.0.dev3", "2.0.0.0"), ("3.4.5.6", "3.4.5.6")])
def test_numeric_version_for_windows(version: str, quad: str) -> None:
    assert render_installer.numeric_version(version) == quad


def test_ico_and_icns_hold_every_png_icon(tmp_path: Path) -> None:
    pngs = render_installer.icon_pngs(ROOT / "resources" / "icons")
    assert {16, 32, 48, 64, 128, 256} <= set(pngs)
    ico = render_installer.ico_bytes(pngs)
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, len(pngs))
    for i, size in enumerate(sorted(pngs)):
        width, height, _c, _r, planes, bits, length, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * i:22 + 16 * i])
        assert (width or 256, height or 256, planes, bits) == (size, size, 1, 32)
        assert ico[offset:offset + length] == pngs[size].read_bytes()
    icns = render_installer.icns_bytes(pngs)
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    kinds = []
    position = 8
    while position < len(icns):
        kinds.append(icns[position:position + 4])
        position += struct.unpack(">I", icns[position + 4:position + 8])[0]
    assert position == len(icns)
    assert {b"icp4", b"icp5", b"icp6", b"ic07", b"ic08"} <= set(kinds)


# ---------------------------------------------------------------- .deb: scripts, control file, layout


def test_debian_version() -> None:
    assert build_deb.debian_version("0.1.0") == "0.1.0"
    assert build_deb.debian_version("1.0rc1") == "1.0~rc1"
    assert build_deb.debian_version("1.0.0.dev3") == "1.0.0~dev3"
    assert build_deb.deb_name("0.1.0", "amd64") == "rcrm-desktop_0.1.0_amd64.deb"


def test_maintainer_scripts_never_touch_user_data() -> None:
    for script in (build_deb.POSTINST, build_deb.POSTRM):
        code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"\brm\b|rmdir|\bfind\b|deluser|userdel|/home|\.local|\$HOME|~/", code)
        assert "update-desktop-database" in code and "gtk-update-icon-cache" in code
        assert code.rstrip().endswith("exit 0")
        assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    assert subprocess.run(["sh", "-n"], input=build_deb.LAUNCHER, text=True, check=False).returncode == 0
    assert 'exec /opt/rcrm-desktop/rcrm-desktop "$@"' in build_deb.LAUNCHER


def test_control_file() -> None:
    info = build_deb.DebInfo("0.1.0", "amd64", ["libc6 (>= 2.35)", "libegl1", "ffmpeg"], 12345)
    text = build_deb.control_text(info)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(" "))
    assert fields["Package"] == "rcrm-desktop" and fields["Version"] == "0.1.0"
    assert fields["Architecture"] == "amd64" and fields["Installed-Size"] == "12345"
    assert fields["Depends"] == "libc6 (>= 2.35), libegl1, ffmpeg"
    assert fields["Recommends"] == "fonts-wqy-microhei"  # CJK names as letters, not boxes
    assert all(line.startswith(" ") for line in text.split("Description: ", 1)[1].splitlines()[1:])


def test_depends_parsing_and_merging() -> None:
    output = "shlibs:Depends=libc6 (>= 2.35), libegl1, libxcb-cursor0 (>= 0.0.99)\n"
    parsed = build_deb.parse_shlibdeps(output)
    assert parsed == ["libc6 (>= 2.35)", "libegl1", "libxcb-cursor0 (>= 0.0.99)"]
    assert build_deb.merge_depends(parsed, ["ffmpeg", "libegl1"]) == parsed + ["ffmpeg"]


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    (bundle / "rcrm-desktop").write_text("#!/bin/sh\necho fake\n", encoding="utf-8")
    (bundle / "rcrm-desktop").chmod(0o700)
    (bundle / "_internal" / "data.txt").write_text("x", encoding="utf-8")
    (bundle / "_internal" / "data.txt").chmod(0o600)
    return bundle


def test_stage_lays_out_the_package(tmp_path: Path, fake_bundle: Path) -> None:
    root = tmp_path / "deb" / "debian" / "rcrm-desktop"
    build_deb.stage(fake_bundle, root, ROOT / "resources")
    assert (root / "opt/rcrm-desktop/rcrm-desktop").stat().st_mode & 0o777 == 0o755
    assert (root / "opt/rcrm-desktop/_internal/data.txt").stat().st_mode & 0o777 == 0o644
    launcher = root / "usr/bin/rcrm-desktop"
    assert launcher.stat().st_mode & 0o777 == 0o755 and "exec /opt/rcrm-desktop/rcrm-desktop" in launcher.read_text()
    assert (root / "usr/share/applications/org.rcrm.Desktop.desktop").is_file()
    assert (root / "usr/share/metainfo/org.rcrm.Desktop.metainfo.xml").is_file()
    assert (root / "usr/share/icons/hicolor/scalable/apps/org.rcrm.Desktop.svg").is_file()
    for size in render_installer.icon_pngs(ROOT / "resources" / "icons"):
        assert (root / f"usr/share/icons/hicolor/{size}x{size}/apps/org.rcrm.Desktop.png").is_file()
    assert (root / "usr/share/doc/rcrm-desktop/copyright").is_file()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed (not a Debian system)")
def test_build_makes_a_root_owned_zstd_deb(tmp_path: Path, fake_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_deb, "shlib_depends", lambda stage_root: ["libc6 (>= 2.35)", "libegl1"])
    monkeypatch.setattr(build_deb, "validate_metadata", lambda desktop, metainfo: None)
    deb = build_deb.build(fake_bundle, tmp_path / "out", tmp_path / "deb/debian/rcrm-desktop", "0.1.0", "amd64")
    assert deb.name == "rcrm-desktop_0.1.0_amd64.deb"
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Depends: libc6 (>= 2.35), libegl1, ffmpeg" in fields
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert all(" root/root " in line for line in listing.splitlines())
    members = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True, check=False).stdout.split()
    if members:
        assert "data.tar.zst" in members
    scripts = subprocess.run(["dpkg-deb", "-I", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "postinst" in scripts and "postrm" in scripts and "prerm" not in scripts


# ---------------------------------------------------------------- desktop entry and AppStream metadata


def test_desktop_entry_and_metainfo_agree_with_the_package() -> None:
    desktop = (ROOT / "resources/linux/org.rcrm.Desktop.desktop").read_text(encoding="utf-8")
    entry = dict(line.split("=", 1) for line in desktop.splitlines() if "=" in line)
    assert entry["Exec"].split()[0] == EXECUTABLE and entry["Icon"] == APP_ID and entry["Type"] == "Application"
    tree = ET.parse(ROOT / "resources/linux/org.rcrm.Desktop.metainfo.xml")
    assert tree.findtext("id") == APP_ID
    assert tree.findtext("launchable") == f"{APP_ID}.desktop"
    assert tree.findtext("provides/binary") == EXECUTABLE
    releases = tree.findall("releases/release")
    assert releases and releases[0].get("version") == __version__, "add a <release> for the new version"


@pytest.mark.skipif(shutil.which("appstreamcli") is None,
                    reason="appstreamcli not installed (apt-get install appstream)")
def test_metainfo_validates() -> None:
    metainfo = ROOT / "resources/linux/org.rcrm.Desktop.metainfo.xml"
    result = subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (apt-get install desktop-file-utils)")
def test_desktop_entry_validates() -> None:
    result = subprocess.run(["desktop-file-validate", str(ROOT / "resources/linux/org.rcrm.Desktop.desktop")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_samples_are_small_and_complete() -> None:
    from rcrm_desktop import selftest

    files = [selftest.sample_path(fmt, ROOT / "resources" / "samples") for fmt in selftest.SAMPLE_FORMATS]
    assert all(f.is_file() for f in files)
    assert sum(f.stat().st_size for f in files) < 300 * 1024


# ---------------------------------------------------------------- the built bundle and .deb (make package)


def built_deb() -> Path | None:
    debs = sorted(DIST.glob(f"rcrm-desktop_{build_deb.debian_version(__version__)}_*.deb"))
    return debs[-1] if debs else None


def newest_source_mtime() -> float:
    sources = [*ROOT.glob("rcrm_desktop/**/*.py"), *ROOT.glob("resources/**/*"), SPEC]
    return max(p.stat().st_mtime for p in sources if p.is_file())


def build_skip_reason(built: Path | None, what: str) -> str | None:
    """Why a test of a build cannot run: there is none, or it is older than the sources it was built from."""
    if built is None or not built.exists():
        return f"no {what} in dist/ (make package builds it; CI does after the tests)"
    if built.stat().st_mtime < newest_source_mtime():
        return f"the {what} in dist/ is older than the sources (rebuild it with make package)"
    return None


# The _internal folder is made afresh by every build (PyInstaller copies files with their own times).
_bundle_reason = build_skip_reason(BUNDLE / "_internal" if (BUNDLE / EXECUTABLE).is_file() else None, "built bundle")
_deb_reason = build_skip_reason(built_deb(), ".deb")
needs_bundle = pytest.mark.skipif(_bundle_reason is not None, reason=_bundle_reason or "")
needs_deb = pytest.mark.skipif(_deb_reason is not None, reason=_deb_reason or "")


@needs_bundle
def test_bundle_is_under_250_mb_and_has_what_the_program_needs() -> None:
    from rcrm_desktop.benchmarks.startup import disk_usage_mb

    assert disk_usage_mb(BUNDLE) < 250
    internal = BUNDLE / "_internal"
    assert (internal / "PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so").is_file()
    for plugin in ("libqxcb.so", "libqoffscreen.so", "libqwayland.so"):
        assert (internal / "PySide6/Qt/plugins/platforms" / plugin).is_file()
    assert (internal / "PySide6/Qt/plugins/imageformats/libqsvg.so").is_file()
    assert list((internal / "qtawesome/fonts").glob("materialdesignicons6*.ttf"))
    assert (internal / "resources/samples/sample.m4a").is_file()
    assert (internal / "resources/icons/org.rcrm.Desktop.svg").is_file()
    names = {p.name for p in internal.rglob("*")}
    for unwanted in ("libQt6WebEngineCore.so.6", "libQt6Pdf.so.6", "libQt63DRender.so.6", "libQt6Quick3D.so.6",
                     "_tkinter.cpython-311-x86_64-linux-gnu.so"):
        assert unwanted not in names
    assert not (internal / "resources/ffmpeg").exists(), "Linux uses Debian's ffmpeg"


@needs_bundle
@pytest.mark.slow
def test_bundle_self_test_passes_without_a_display(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
           and not k.startswith("RCRM_")}
    env["RCRM_HOME"] = str(tmp_path / "home")
    result = subprocess.run([str(BUNDLE / EXECUTABLE), "self-test"], capture_output=True, text=True, env=env,
                            timeout=300, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout


@needs_deb
def test_deb_contents_and_fields() -> None:
    deb = built_deb()
    assert deb is not None
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
    depends = re.search(r"^Depends: (.*)$", fields, re.M)
    assert depends is not None
    names = {d.strip().split()[0] for d in depends.group(1).split(",")}
    assert {"ffmpeg", "libc6", "libegl1", "libgl1", "libfontconfig1", "libxkbcommon0", "libxkbcommon-x11-0",
            "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libdbus-1-3"} <= names
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    paths = [line.split(None, 5)[5].split(" -> ")[0] for line in listing.splitlines()]
    outside = [p for p in paths if not p.startswith(("./opt/rcrm-desktop", "./usr/bin/", "./usr/share/"))
               and p not in ("./", "./opt/", "./usr/")]
    assert outside == [], "the package installs nothing outside /opt/rcrm-desktop, /usr/bin and /usr/share"
    for wanted in ("./usr/bin/rcrm-desktop", "./opt/rcrm-desktop/rcrm-desktop",
                   "./usr/share/applications/org.rcrm.Desktop.desktop",
                   "./usr/share/metainfo/org.rcrm.Desktop.metainfo.xml",
                   "./usr/share/icons/hicolor/scalable/apps/org.rcrm.Desktop.svg",
                   "./usr/share/icons/hicolor/256x256/apps/org.rcrm.Desktop.png",
                   "./usr/share/icons/hicolor/16x16/apps/org.rcrm.Desktop.png"):
        assert wanted in paths
    assert all(" root/root " in line for line in listing.splitlines())


# ---------------------------------------------------------------- install, self-test, purge (opt-in)


def _installed() -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "rcrm-desktop"], capture_output=True, text=True,
                            check=False)
    return "install ok installed" in result.stdout


@needs_deb
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RCRM_TEST_DEB_INSTALL") != "1",
                    reason="installs and purges the .deb system-wide: set RCRM_TEST_DEB_INSTALL=1 (CI does, as root)")
def test_installed_deb_self_tests_and_purge_keeps_user_data(tmp_path: Path) -> None:
    deb = built_deb()
    assert deb is not None and os.geteuid() == 0, "needs root"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
           and not k.startswith("RCRM_")}
    env["DEBIAN_FRONTEND"] = "noninteractive"
    subprocess.run(["apt-get", "install", "-y", "-qq", str(deb)], env=env, check=True, capture_output=True)
    try:
        assert _installed()
        self_test = subprocess.run(["/usr/bin/rcrm-desktop", "self-test"], env={**env, "HOME": str(tmp_path)},
                                   capture_output=True, text=True, timeout=300, check=False)
        assert self_test.returncode == 0, self_test.stdout + self_test.stderr

        # A user's data, made by the installed program in its usual place (~/.local/share/rcrm-desktop).
        home = tmp_path / "operator"
        home.mkdir()
        user_env = {**env, "HOME": str(home), "RCRM_ADMIN_PASSWORD": "operator password 1"}
        subprocess.run(["/usr/bin/rcrm-desktop", "init"], env=user_env, check=True, capture_output=True, timeout=120)
        data = home / ".local/share/rcrm-desktop"
        database = data / "instance.sqlite3"
        recording = data / "recordings" / "ab" / "call.wav"
        recording.parent.mkdir(parents=True)
        shutil.copyfile(ROOT / "resources/samples/sample.wav", recording)
        before = {p: p.read_bytes() for p in (database, recording)}
    finally:
        subprocess.run(["apt-get", "purge", "-y", "-qq", "rcrm-desktop"], env=env, check=True, capture_output=True)
    assert not _installed()
    assert not Path("/opt/rcrm-desktop").exists() and not Path("/usr/bin/rcrm-desktop").exists()
    assert {p: p.read_bytes() for p in before} == before, "purging the package must leave user data in place"
