# RCRM Desktop — set-up, run, test. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)

.PHONY: run test lint venv system-run system-test clean package bundle installers dmg system-package

run: system-run $(STAMP)
	$(VENV)/bin/rcrm-desktop $(ARGS)

test: system-test $(STAMP)
	$(VENV)/bin/ruff check rcrm_desktop tests
	$(VENV)/bin/mypy
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check rcrm_desktop tests
	$(VENV)/bin/mypy

venv: $(STAMP)

system-run:
	@tools/system-deps.sh run

system-test:
	@tools/system-deps.sh test

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "RCRM Desktop needs Python 3.11 (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11")'
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(VPY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache

# ---------------------------------------------------------------- installers (see packaging/README.md)
# A separate, cached build environment (run-time packages + PyInstaller; rebuilt only when the
# requirements change) and PyInstaller's work folder live under build/, which git ignores.
PKG_VENV := build/venv-package
PKG_PY := $(PKG_VENV)/bin/python
PKG_STAMP := $(PKG_VENV)/.installed-$(shell cat requirements.txt requirements-package.txt | sha256sum | cut -c1-16)

# Linux: dist/rcrm-desktop_<version>_<arch>.deb from the bundle.
package: system-package bundle
	$(PKG_PY) packaging/build_deb.py

# The one-folder PyInstaller bundle dist/rcrm-desktop (macOS: also dist/RCRM Desktop.app).
bundle: $(PKG_STAMP)
	$(PKG_VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/rcrm-desktop.spec

# The Windows NSIS script and the macOS dmg script, filled with the version, in build/installer/.
installers:
	$(PYTHON) packaging/render_installer.py

# macOS: dist/rcrm-desktop-<version>-macos-<arch>.dmg (needs hdiutil).
dmg: bundle installers
	sh build/installer/build_dmg.sh

system-package:
	@tools/system-deps.sh package
	@command -v dpkg-shlibdeps >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends dpkg-dev appstream >&2; \
	  else echo "make package needs: sudo apt-get install dpkg-dev appstream" >&2; exit 1; fi; }

$(PKG_STAMP): requirements.txt requirements-package.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "RCRM Desktop needs Python 3.11 (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11")'
	@test -x $(PKG_PY) || $(PYTHON) -m venv $(PKG_VENV)
	$(PKG_PY) -m pip install --quiet --disable-pip-version-check -r requirements-package.txt
	@rm -f $(PKG_VENV)/.installed-*
	@touch $@
