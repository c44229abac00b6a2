#!/bin/sh
# Checks (and, as root, installs) the Debian packages RCRM Desktop needs.
#   tools/system-deps.sh run   - to start the application window
#   tools/system-deps.sh test  - to run the test suite (Qt offscreen, audio tools)
#   tools/system-deps.sh package - to build the .deb: dpkg-shlibdeps resolves every library the
#                                  bundled Qt plugins link to, the xcb ones included
# Without root it prints the apt-get command to run and exits 1.
set -eu
purpose="${1:-run}"

common="python3 python3-venv ffmpeg libegl1 libgl1 libxkbcommon0 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 fonts-dejavu-core fonts-wqy-microhei"
gui="libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libx11-xcb1"
case "$purpose" in
  run) wanted="$common $gui" ;;
  test) wanted="$common" ;;
  package) wanted="$common $gui" ;;
  *) echo "usage: $0 run|test|package" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "Not a Debian-based system: install Python 3.11 with venv, ffmpeg and the Qt 6 xcb libraries, then retry." >&2
  exit 0
fi

missing=""
for pkg in $wanted; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $pkg" ;;
  esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = "0" ]; then
  echo "Installing Debian packages:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >&2
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  echo "Installing Debian packages:$missing" >&2
  sudo -n apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  # shellcheck disable=SC2086
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >&2
else
  echo "RCRM Desktop needs these Debian packages:$missing" >&2
  echo "Install them with:  sudo apt-get install$missing" >&2
  exit 1
fi
