#!/usr/bin/env python3
"""Build ``dist/rcrm-desktop_<version>_<arch>.deb`` from the PyInstaller bundle ``dist/rcrm-desktop``.

``make package`` builds the bundle and then runs this script. The package holds:

* ``/opt/rcrm-desktop/``: the one-folder bundle (Python, Qt, the resources);
* ``/usr/bin/rcrm-desktop``: a shell launcher that execs the bundle's program;
* ``/usr/share/applications/org.rcrm.Desktop.desktop`` (menu entry);
* ``/usr/share/icons/hicolor/{scalable,<N>x<N>}/apps/org.rcrm.Desktop.{svg,png}``;
* ``/usr/share/metainfo/org.rcrm.Desktop.metainfo.xml`` (AppStream; validated
  with ``appstreamcli validate --no-net`` when that tool is installed);
* ``/usr/share/doc/rcrm-desktop/copyright``.

``Depends`` is computed from the bundle's ELF files with ``dpkg-shlibdeps``
(libraries the bundle carries itself are not dependencies), plus ``ffmpeg``:
the .deb uses Debian's ffmpeg/ffprobe for audio instead of bundling them.

The maintainer scripts only refresh the desktop-menu and icon caches. Nothing
removes user data: each operator's instance database, recordings, settings and
logs live in their home folder (``~/.local/share/rcrm-desktop`` …) and stay
there after ``apt-get remove`` and ``apt-get purge``.

Usage (from the repository root)::

    python3 packaging/build_deb.py [--bundle dist/rcrm-desktop] [--out dist] [--build-dir build/deb]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "rcrm-desktop"
INSTALL_DIR = "/opt/rcrm-desktop"
MAINTAINER = "RCRM <support@rcrm.example.org>"
HOMEPAGE = "https://rcrm.example.org/"
#: Packages the program needs that ELF analysis cannot see: ffmpeg/ffprobe run as processes.
EXTRA_DEPENDS = ["ffmpeg"]
#: Wanted but not required: a font with Chinese, Japanese and Korean glyphs (≈ 5 MB), so such names in the
#: user accounts show as letters, not boxes (DejaVu, which fontconfig brings, covers Latin, Greek,
#: Cyrillic, Arabic and Hebrew).
RECOMMENDS = ("fonts-wqy-microhei",)
#: Used when dpkg-shlibdeps is not installed (the measured result on Debian 12 amd64, unversioned).
FALLBACK_DEPENDS = [
    "libc6", "libegl1", "libgl1", "libfontconfig1", "libfreetype6", "libglib2.0-0", "libdbus-1-3",
    "libxkbcommon0", "libxkbcommon-x11-0", "libx11-6", "libx11-xcb1", "libxcb1", "libxcb-cursor0",
    "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0", "libxcb-render-util0", "libxcb-randr0",
    "libxcb-shape0", "libxcb-xkb1", "libxcb-sync1", "libxcb-xfixes0", "libxcb-render0", "libxcb-shm0",
    "libxcb-glx0", "libxrandr2", "libxext6", "libpulse0", "libwayland-client0", "libwayland-cursor0",
    "libwayland-egl1", "zlib1g",
]

DESCRIPTION = """data controller's workstation for a self-hosted Retention CRM
 RCRM Desktop lets compliance officers answer data-subject rights requests
 within the legal deadlines, and support staff review user accounts, call
 recordings and crash reports, entirely on the organisation's own premises.
 .
 It works with an embedded SQLite instance or a shared PostgreSQL or
 MariaDB server. Uninstalling the package leaves every user's instance
 database and recordings in place."""

LAUNCHER = f"""#!/bin/sh
# RCRM Desktop launcher (installed by the {PACKAGE} package).
exec {INSTALL_DIR}/{PACKAGE} "$@"
"""

_REFRESH_CACHES = """\
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q /usr/share/applications || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f /usr/share/icons/hicolor/index.theme ]; then
    gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
  fi
"""

POSTINST = f"""#!/bin/sh
# {PACKAGE} postinst: refresh the desktop-menu and icon caches. Touches no user data.
set -e
if [ "$1" = "configure" ]; then
{_REFRESH_CACHES}fi
exit 0
"""

POSTRM = f"""#!/bin/sh
# {PACKAGE} postrm: refresh the desktop-menu and icon caches once the entry and icons are gone.
# User data (instance databases, recordings, settings and logs in each user's home folder) is
# never removed, not even on purge.
set -e
case "$1" in
  remove|purge)
{_REFRESH_CACHES}    ;;
esac
exit 0
"""

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: RCRM Desktop
Source: https://rcrm.example.org/

Files: *
Copyright: RCRM
License: proprietary

Files: opt/rcrm-desktop/_internal/PySide6/* opt/rcrm-desktop/_internal/shiboken6/*
Copyright: The Qt Company Ltd. and other contributors
License: LGPL-3.0-only
 Qt 6 and Qt for Python (PySide6), dynamically linked; see /usr/share/common-licenses/LGPL-3.
 Qt Multimedia uses FFmpeg (LGPL-2.1-or-later), shipped as shared libraries in the same folder.

Files: opt/rcrm-desktop/_internal/*
Copyright: Python Software Foundation and the authors of the bundled Python packages
License: PSF-2.0 and others
 The Python run time (PSF licence), numpy (BSD-3-Clause), peewee (MIT), argon2-cffi (MIT),
 platformdirs (MIT), psycopg2 (LGPL-3.0-or-later, with libpq under the PostgreSQL licence),
 PyMySQL (MIT), QtAwesome (MIT; bundled icon fonts under the SIL Open Font Licence / Apache-2.0).
"""


@dataclass(frozen=True)
class DebInfo:
    """What the control file says about the package."""

    version: str
    arch: str
    depends: list[str]
    installed_size_kb: int
    recommends: tuple[str, ...] = RECOMMENDS


# ---------------------------------------------------------------- small helpers


def debian_version(version: str) -> str:
    """A PEP 440 version as a Debian version: pre-releases sort before the release (``1.0rc1`` → ``1.0~rc1``)."""
    return re.sub(r"(?<=\d)[.-]?(a|b|rc|dev)(?=\d|$)", r"~\1", version)


def package_version() -> str:
    sys.path.insert(0, str(ROOT))
    from rcrm_desktop import __version__

    return __version__


def host_arch() -> str:
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def deb_name(version: str, arch: str) -> str:
    return f"{PACKAGE}_{debian_version(version)}_{arch}.deb"


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as fh:
        return fh.read(4) == b"\x7fELF"


def elf_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_elf(p))


def tree_size_kb(folder: Path) -> int:
    """Disk use in KiB the way dpkg counts Installed-Size (apparent sizes, rounded up per file)."""
    total = 0
    for path in folder.rglob("*"):
        if path.is_symlink():
            total += 1
        elif path.is_file():
            total += (path.stat().st_size + 1023) // 1024
    return total


# ---------------------------------------------------------------- control file


def control_text(info: DebInfo) -> str:
    return (
        f"Package: {PACKAGE}\n"
        f"Version: {debian_version(info.version)}\n"
        f"Architecture: {info.arch}\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {info.installed_size_kb}\n"
        f"Depends: {', '.join(info.depends)}\n"
        + (f"Recommends: {', '.join(info.recommends)}\n" if info.recommends else "")
        + "Section: misc\n"
        "Priority: optional\n"
        f"Homepage: {HOMEPAGE}\n"
        f"Description: {DESCRIPTION}\n"
    )


def parse_shlibdeps(output: str) -> list[str]:
    """The ``shlibs:Depends`` list of ``dpkg-shlibdeps -O`` output, one dependency per item."""
    for line in output.splitlines():
        if line.startswith("shlibs:Depends="):
            value = line.split("=", 1)[1].strip()
            return [d.strip() for d in value.split(",") if d.strip()]
    return []


def merge_depends(computed: list[str], extra: list[str]) -> list[str]:
    """``computed`` plus each of ``extra`` not already named (by package name), in a stable order."""
    names = {re.split(r"[\s(|]", d, maxsplit=1)[0] for d in computed}
    return computed + [d for d in extra if d not in names]


def shlib_depends(stage_root: Path) -> list[str]:
    """``Depends`` from the ELF files of the package with ``dpkg-shlibdeps`` (falls back to a fixed list).

    ``stage_root`` is ``<build>/debian/rcrm-desktop``, the layout dpkg-shlibdeps
    expects: libraries found inside it (Qt, ICU, Qt's FFmpeg, numpy's OpenBLAS)
    belong to the package itself and are not dependencies; every other library
    is mapped to the Debian package and minimum version that provides it. A
    library found nowhere is an error (a plugin whose dependency was dropped).
    """
    if shutil.which("dpkg-shlibdeps") is None:
        print("warning: dpkg-shlibdeps not found (apt-get install dpkg-dev); using the fixed Depends list",
              file=sys.stderr)
        return list(FALLBACK_DEPENDS)
    if stage_root.parent.name != "debian":
        raise ValueError(f"{stage_root} must be <build>/debian/{PACKAGE}")
    build_dir = stage_root.parent.parent
    files = elf_files(stage_root)
    lib_dirs = sorted({str(f.parent) for f in files if ".so" in f.name})
    (build_dir / "debian" / "control").write_text(
        f"Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n", encoding="utf-8")
    command = ["dpkg-shlibdeps", "-O", "--ignore-missing-info", "--warnings=0",
               *[f"-l{d}" for d in lib_dirs], *[str(f.relative_to(build_dir)) for f in files]]
    result = subprocess.run(command, cwd=build_dir, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error" in line] or [result.stderr.strip()]
        raise SystemExit("dpkg-shlibdeps failed:\n" + "\n".join(errors))
    depends = parse_shlibdeps(result.stdout)
    if not depends:
        raise SystemExit("dpkg-shlibdeps found no dependencies, which cannot be right for a Qt program")
    return depends


# ---------------------------------------------------------------- validation


def validate_metadata(desktop: Path, metainfo: Path) -> None:
    """``appstreamcli validate --no-net`` and ``desktop-file-validate``, when installed; a failure stops the build."""
    if shutil.which("appstreamcli"):
        result = subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"AppStream metainfo does not validate:\n{result.stdout}{result.stderr}")
    else:
        print("note: appstreamcli not installed (apt-get install appstream); metainfo not validated",
              file=sys.stderr)
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise SystemExit(f"The .desktop file does not validate:\n{result.stdout}{result.stderr}")


# ---------------------------------------------------------------- staging


def _install(source: Path, target: Path, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)


def _write(target: Path, text: str, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8", newline="\n")
    target.chmod(mode)


def _normalise_modes(folder: Path) -> None:
    """Folders 0755, executables (any x bit, or ELF files) 0755, everything else 0644."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        if path.is_dir():
            path.chmod(0o755)
        else:
            executable = path.stat().st_mode & 0o111 or is_elf(path)
            path.chmod(0o755 if executable else 0o644)


def stage(bundle_dir: Path, stage_root: Path, resources: Path) -> None:
    """Lay out the package tree under ``stage_root`` (removed first)."""
    if stage_root.exists():
        shutil.rmtree(stage_root)
    (stage_root / "DEBIAN").mkdir(parents=True)
    opt = stage_root / INSTALL_DIR.lstrip("/")
    opt.parent.mkdir(parents=True)
    shutil.copytree(bundle_dir, opt, symlinks=True)
    _normalise_modes(opt)
    _write(stage_root / "usr/bin" / PACKAGE, LAUNCHER, 0o755)
    _install(resources / "linux/org.rcrm.Desktop.desktop",
             stage_root / "usr/share/applications/org.rcrm.Desktop.desktop")
    _install(resources / "linux/org.rcrm.Desktop.metainfo.xml",
             stage_root / "usr/share/metainfo/org.rcrm.Desktop.metainfo.xml")
    icons = stage_root / "usr/share/icons/hicolor"
    _install(resources / "icons/org.rcrm.Desktop.svg", icons / "scalable/apps/org.rcrm.Desktop.svg")
    for png in sorted((resources / "icons").glob("org.rcrm.Desktop-*.png")):
        size = png.stem.rsplit("-", 1)[-1]
        _install(png, icons / f"{size}x{size}/apps/org.rcrm.Desktop.png")
    _write(stage_root / "usr/share/doc" / PACKAGE / "copyright", COPYRIGHT)
    for folder in (stage_root / "usr").rglob("*"):
        if folder.is_dir():
            folder.chmod(0o755)


def write_control(stage_root: Path, info: DebInfo) -> None:
    debian = stage_root / "DEBIAN"
    debian.mkdir(exist_ok=True)
    debian.chmod(0o755)
    _write(debian / "control", control_text(info))
    _write(debian / "postinst", POSTINST, 0o755)
    _write(debian / "postrm", POSTRM, 0o755)
    sums = []
    for path in sorted(stage_root.rglob("*")):
        if path.is_file() and not path.is_symlink() and "DEBIAN" not in path.relative_to(stage_root).parts:
            digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            sums.append(f"{digest}  {path.relative_to(stage_root).as_posix()}\n")
    _write(debian / "md5sums", "".join(sums))


def build(bundle_dir: Path, out_dir: Path, stage_root: Path, version: str, arch: str) -> Path:
    if not (bundle_dir / PACKAGE).is_file():
        raise SystemExit(f"No bundle at {bundle_dir}: build it first with “make bundle”.")
    resources = ROOT / "resources"
    validate_metadata(resources / "linux/org.rcrm.Desktop.desktop",
                      resources / "linux/org.rcrm.Desktop.metainfo.xml")
    stage(bundle_dir, stage_root, resources)
    depends = merge_depends(shlib_depends(stage_root), EXTRA_DEPENDS)
    info = DebInfo(version, arch, depends, tree_size_kb(stage_root))
    write_control(stage_root, info)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / deb_name(version, arch)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(stage_root), str(target)],
                   check=True, stdout=subprocess.DEVNULL)
    bundle_mb = tree_size_kb(bundle_dir) / 1024
    print(f"{target} ({target.stat().st_size / 1048576:.1f} MB; bundle {bundle_mb:.0f} MB installed)")
    print(f"Depends: {', '.join(depends)}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / PACKAGE)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "deb",
                        help="work folder; the package tree is staged in its debian/rcrm-desktop")
    parser.add_argument("--version", default=None, help="default: rcrm_desktop.__version__")
    parser.add_argument("--arch", default=None, help="default: dpkg --print-architecture")
    args = parser.parse_args(argv)
    os.umask(0o022)
    build(args.bundle.resolve(), args.out.resolve(), args.build_dir.resolve() / "debian" / PACKAGE,
          args.version or package_version(), args.arch or host_arch())
    return 0


if __name__ == "__main__":
    sys.exit(main())
