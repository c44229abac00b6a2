#!/usr/bin/env python3
"""Fill the Windows and macOS installer templates with the program's version, and make the OS icons.

Templates are files ending in ``.in`` with ``@NAME@`` placeholders:

* ``packaging/windows/rcrm-desktop.nsi.in`` → ``build/installer/rcrm-desktop.nsi`` (NSIS script)
* ``packaging/macos/build_dmg.sh.in`` → ``build/installer/build_dmg.sh`` (hdiutil script)

The values come from the package itself (``rcrm_desktop.__version__``,
``APP_ID`` …), so an installer can never carry a version the program does not
have. A placeholder without a value is an error, never left in the output.

Usage (from the repository root; ``make installers`` runs it)::

    python3 packaging/render_installer.py [--out build/installer] [--version X.Y.Z]
    python3 packaging/render_installer.py --print-version

The PyInstaller spec imports ``write_ico``/``write_icns`` from here: both wrap
the PNG icons of ``resources/icons`` into the Windows/macOS container formats
(PNG-compressed entries, which every supported Windows and macOS reads), so no
image library is needed at build time.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"

#: Template → rendered file name (relative to the output folder).
TEMPLATES: dict[str, str] = {
    "windows/rcrm-desktop.nsi.in": "rcrm-desktop.nsi",
    "macos/build_dmg.sh.in": "build_dmg.sh",
}

_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def _package_metadata() -> dict[str, str]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import rcrm_desktop

    return {
        "VERSION": rcrm_desktop.__version__,
        "APP_NAME": rcrm_desktop.APP_NAME,
        "APP_ID": rcrm_desktop.APP_ID,
        "EXECUTABLE": rcrm_desktop.EXECUTABLE,
        "PUBLISHER": rcrm_desktop.ORG_NAME,
    }


def numeric_version(version: str) -> str:
    """``X.Y.Z.W`` for Windows' VIProductVersion: the leading numbers of each part, padded with zeros.

    ``0.1.0`` → ``0.1.0.0``; ``1.2.0rc1`` → ``1.2.0.0``; ``1.2`` → ``1.2.0.0``.
    """
    numbers: list[str] = []
    for part in version.split(".")[:4]:
        match = re.match(r"\d+", part)
        numbers.append(str(int(match.group())) if match else "0")
    while len(numbers) < 4:
        numbers.append("0")
    return ".".join(numbers)


def template_values(version: str | None = None) -> dict[str, str]:
    """Every placeholder's value. ``version`` overrides the package's (for tests and pre-release builds)."""
    values = _package_metadata()
    if version:
        values["VERSION"] = version
    values["VERSION_QUAD"] = numeric_version(values["VERSION"])
    return values


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every ``@NAME@`` replaced; ``KeyError`` naming the placeholders without a value."""
    missing = sorted({name for name in _PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise KeyError(f"no value for placeholder(s): {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render_all(out_dir: Path, values: Mapping[str, str], packaging: Path = PACKAGING) -> list[Path]:
    """Render every template of ``TEMPLATES`` into ``out_dir``; returns the written files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for template, name in TEMPLATES.items():
        source = packaging / template
        target = out_dir / name
        target.write_text(render(source.read_text(encoding="utf-8"), values), encoding="utf-8", newline="\n")
        if name.endswith(".sh"):
            target.chmod(0o755)
        written.append(target)
    return written


# ---------------------------------------------------------------- icons


def icon_pngs(folder: Path, app_id: str = "org.rcrm.Desktop") -> dict[int, Path]:
    """The square PNG icons ``<app_id>-<size>.png`` in ``folder``, by size."""
    found: dict[int, Path] = {}
    for path in folder.glob(f"{app_id}-*.png"):
        size = path.stem.rsplit("-", 1)[-1]
        if size.isdigit():
            found[int(size)] = path
    if not found:
        raise FileNotFoundError(f"no {app_id}-<size>.png icons in {folder}")
    return dict(sorted(found.items()))


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def ico_bytes(pngs: Mapping[int, Path]) -> bytes:
    """A Windows .ico holding each PNG as a PNG-compressed entry (sizes up to 256)."""
    images = [(size, path.read_bytes()) for size, path in sorted(pngs.items()) if size <= 256]
    if not images:
        raise ValueError("an .ico needs at least one icon of at most 256 pixels")
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries = b""
    payload = b""
    for size, data in images:
        width, height = _png_size(data)
        if (width, height) != (size, size):
            raise ValueError(f"icon of size {size} is {width}x{height}")
        entries += struct.pack("<BBBBHHII", width % 256, height % 256, 0, 0, 1, 32, len(data), offset + len(payload))
        payload += data
    return header + entries + payload


#: ICNS element types holding PNG data, by pixel size (the @2x types reuse the bigger PNG).
_ICNS_TYPES: dict[int, tuple[bytes, ...]] = {
    16: (b"icp4",), 32: (b"icp5", b"ic11"), 64: (b"icp6", b"ic12"), 128: (b"ic07",),
    256: (b"ic08", b"ic13"), 512: (b"ic09", b"ic14"), 1024: (b"ic10",),
}


def icns_bytes(pngs: Mapping[int, Path]) -> bytes:
    """A macOS .icns holding the PNGs whose size has an ICNS type (16, 32, 64, 128, 256, 512, 1024)."""
    body = b""
    for size, path in sorted(pngs.items()):
        data = path.read_bytes()
        if _png_size(data) != (size, size):
            raise ValueError(f"icon of size {size} is not {size}x{size}")
        for kind in _ICNS_TYPES.get(size, ()):
            body += kind + struct.pack(">I", 8 + len(data)) + data
    if not body:
        raise ValueError("an .icns needs an icon of 16, 32, 64, 128, 256, 512 or 1024 pixels")
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def write_ico(pngs: Mapping[int, Path], target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(ico_bytes(pngs))
    return target


def write_icns(pngs: Mapping[int, Path], target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(icns_bytes(pngs))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "installer", help="output folder")
    parser.add_argument("--version", help="override the package version")
    parser.add_argument("--print-version", action="store_true", help="print the version and exit")
    args = parser.parse_args(argv)
    values = template_values(args.version)
    if args.print_version:
        print(values["VERSION"])
        return 0
    for path in render_all(args.out, values):
        print(path)
    write_ico(icon_pngs(ROOT / "resources" / "icons"), args.out / "org.rcrm.Desktop.ico")
    write_icns(icon_pngs(ROOT / "resources" / "icons"), args.out / "org.rcrm.Desktop.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
