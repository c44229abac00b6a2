"""The command line driven in-process through ``cli.main`` (the real parser with every sub-command)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rcrm_desktop import cli
from tests.conftest import PASSWORD, Instance

Run = Callable[..., tuple[int, str, str]]


def make_runner(instance: Instance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                default_operator: str) -> Run:
    """``run(*args, operator=...)`` → (exit code, stdout, stderr) of ``rcrm-desktop --database URL *args``."""
    monkeypatch.setenv("RCRM_PASSWORD", PASSWORD)

    def invoke(*args: str, operator: str = default_operator) -> tuple[int, str, str]:
        monkeypatch.setenv("RCRM_OPERATOR", operator)
        code = cli.main(["--database", instance.url, *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke
