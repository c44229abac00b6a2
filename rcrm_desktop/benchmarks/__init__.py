"""``rcrm-desktop bench``: the project's speed targets, measured next to their limits.

Each suite is a module in this package with ``run(ctx) -> list[Figure]``. A
figure is a median of several runs and, where one exists, carries the limit
measured in the same run (the same query in raw SQL, ``ffmpeg`` decoding the
same file, ``cp`` copying the same files), so the table shows the ratio and
not a feeling. Targets are stated per figure; a missed target is reported, not
hidden.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Suites in the order they run: name → module under ``rcrm_desktop.benchmarks``.
SUITES: dict[str, str] = {
    "startup": "startup",
    "requests": "requests",
    "audio": "audio",
    "crashes": "crashes",
    "views": "views",
    "retention": "retention",
}


@dataclass
class Figure:
    suite: str
    name: str
    value: float
    unit: str
    limit: float | None = None
    limit_label: str | None = None
    target: str | None = None
    met: bool | None = None
    note: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.limit in (None, 0):
            return None
        return self.value / self.limit  # type: ignore[operator]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


@dataclass
class BenchContext:
    """What every suite gets: a scratch folder, the instance URL (or ``None``), and whether to run short."""

    workdir: Path
    database_url: str | None = None
    quick: bool = False
    repeat: int = 5
    log: Callable[[str], None] = print
    extra: dict[str, Any] = field(default_factory=dict)


def median_seconds(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs after ``warmup`` unmeasured runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[k]


def run_suites(ctx: BenchContext, only: list[str] | None = None) -> list[Figure]:
    figures: list[Figure] = []
    for name, module_name in SUITES.items():
        if only and name not in only:
            continue
        module = importlib.import_module(f"rcrm_desktop.benchmarks.{module_name}")
        ctx.log(f"Running the {name} benchmarks …")
        figures.extend(module.run(ctx))
    return figures


def format_table(figures: list[Figure]) -> str:
    header = ["suite", "figure", "value", "limit", "ratio", "target", "met"]
    rows = []
    for f in figures:
        limit = f"{f.limit:.4g} {f.unit} ({f.limit_label})" if f.limit is not None else ""
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else ""
        met = "" if f.met is None else ("yes" if f.met else "NO")
        rows.append([f.suite, f.name, f"{f.value:.4g} {f.unit}", limit, ratio, f.target or "", met])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) for r in rows]
    return "\n".join(lines)
