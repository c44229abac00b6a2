"""RCRM Desktop: the data controller's workstation application for a self-hosted Retention CRM."""

from __future__ import annotations

__version__ = "0.1.0"
APP_NAME = "RCRM Desktop"
APP_ID = "org.rcrm.Desktop"
ORG_NAME = "RCRM"
EXECUTABLE = "rcrm-desktop"
