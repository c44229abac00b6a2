"""What every view of one logged-in workstation session shares."""

from __future__ import annotations

from dataclasses import dataclass

from rcrm_desktop.core.instance import OpenedInstance
from rcrm_desktop.core.permissions import Actor


@dataclass
class AppSession:
    actor: Actor
    instance: OpenedInstance
    instance_name: str = "RCRM instance"
