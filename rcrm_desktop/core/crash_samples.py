"""Believable Sentry events for demos, screenshots and benchmarks (``sample_events``).

The events look like what RCRM's own server (Python), web client (JavaScript)
and Android app (Java) send: several distinct crashes across the releases
``4.2.0``, ``4.2.1`` and ``4.3.0``; the same crash on different line numbers
in different releases (it must group together); messages carrying ids (they
must group together once masked); some explicit fingerprints (one with
``{{ default }}``); and personal data and secrets in breadcrumbs, frame vars,
extra, request data, contexts and the user object, so scrubbing has work to do.
A share of the events names a ``user.id`` from ``user_ids`` so they link to
subjects.

Deterministic: the same ``seed``, ``user_ids`` and ``now`` give the same events.
Pure Python, no database: pass the result to ``core.crashes.import_events``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Releases in the order they shipped, with the share of the sampled time span each was current.
RELEASES: tuple[tuple[str, float], ...] = (("4.2.0", 0.45), ("4.2.1", 0.30), ("4.3.0", 0.25))

_FIRST = ["Jana", "Peter", "Lucia", "Martin", "Zuzana", "Tomáš", "Eva", "Michal", "Katarína", "Ján"]
_LAST = ["Nováková", "Horváth", "Kováč", "Varga", "Tóth", "Szabó", "Baláž", "Molnár", "Krajčí", "Šťastný"]
_CARDS = ["4111 1111 1111 1111", "5500 0000 0000 0004", "4012888888881881", "3782 822463 10005"]
_IBANS = ["SK31 1200 0000 1987 4263 7541", "DE89 3704 0044 0532 0130 00", "CZ65 0800 0000 1920 0014 5399"]


@dataclass(frozen=True)
class _Frame:
    module: str | None
    function: str
    filename: str
    line: int
    in_app: bool
    context: str = ""
    #: Line shift per release index (the same crash moves when code above it changes).
    drift: int = 0
    vars: Callable[[random.Random, dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class _Crash:
    key: str
    platform: str
    app: str
    weight: float
    releases: tuple[int, ...]
    exc_type: str | None = None
    value: Callable[[random.Random, dict[str, Any]], str] | None = None
    exc_module: str | None = None
    frames: tuple[_Frame, ...] = ()
    message: Callable[[random.Random, dict[str, Any]], tuple[str, str | None]] | None = None
    level: str = "error"
    fingerprint: tuple[str, ...] | None = None
    mechanism: str = "generic"
    handled: bool = False
    chained: tuple[str, str] | None = None
    extra: Callable[[random.Random, dict[str, Any]], dict[str, Any]] | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    plain = (first + "." + last).lower().translate(str.maketrans("áčďéěíľňóřšťúůýžä", "acdeeilnorstuuyza"))
    return f"{first} {last}", f"{plain}@example.sk"


def _ip(rng: random.Random) -> str:
    return f"{rng.choice([10, 172, 192, 81, 195])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _phone(rng: random.Random) -> str:
    return f"+421 9{rng.randint(0, 9)}{rng.randint(0, 9)} {rng.randint(100, 999)} {rng.randint(100, 999)}"


def _token(rng: random.Random, n: int = 32) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


# ---------------------------------------------------------------- the crashes

_DJANGO = (
    _Frame("django.core.handlers.exception", "inner", "django/core/handlers/exception.py", 55, False,
           "response = get_response(request)"),
    _Frame("django.core.handlers.base", "_get_response", "django/core/handlers/base.py", 197, False,
           "response = wrapped_callback(request, *callback_args, **callback_kwargs)"),
)

_REACT = (
    _Frame(None, "renderWithHooks", "webpack:///./node_modules/react-dom/cjs/react-dom.production.min.js", 160, False,
           ""),
    _Frame(None, "beginWork", "webpack:///./node_modules/react-dom/cjs/react-dom.production.min.js", 196, False, ""),
)

_ANDROID = (
    _Frame("android.os.Handler", "dispatchMessage", "Handler.java", 106, False),
    _Frame("androidx.work.impl.WorkerWrapper", "runWorker", "WorkerWrapper.java", 316, False),
)


def _call_vars(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"call_id": rng.randint(10_000, 99_999), "customer": {"email": ctx["email"], "phone": _phone(rng)},
            "agent": "'support-3'", "self": "<rcrm.calls.service.CallService object at 0x7f3a2c1d9e50>"}


def _db_vars(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"dsn": f"postgresql://rcrm:{_token(rng, 12)}@{_ip(rng)}:5432/rcrm", "password": _token(rng, 14),
            "attempt": rng.randint(1, 5), "timeout": 10}


def _upload_vars(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"path": f"/home/{ctx['login']}/recordings/2025/{rng.randint(1000, 9999)}.wav",
            "chunk": rng.randint(1, 400), "api_key": _token(rng, 40)}


def _invoice_vars(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"iban": rng.choice(_IBANS), "amount": "N/A", "customer_name": ctx["name"]}


CRASHES: tuple[_Crash, ...] = (
    _Crash(
        "keyerror", "python", "rcrm-server", 9.0, (0, 1, 2), "KeyError", lambda r, c: "'customer_id'", "builtins",
        _DJANGO + (
            _Frame("rcrm.api.views", "call_detail", "/srv/rcrm/rcrm/api/views.py", 212, True,
                   "summary = service.process_call(request.data)", 3),
            _Frame("rcrm.calls.service", "process_call", "/srv/rcrm/rcrm/calls/service.py", 88, True,
                   "customer = self.customers[payload['customer_id']]", 7, _call_vars),
        )),
    _Crash(
        "db_refused", "python", "rcrm-server", 5.0, (0, 1, 2), "OperationalError",
        lambda r, c: f'connection to server at "{_ip(r)}", port 5432 failed: Connection refused',
        "psycopg2", (
            _Frame("rcrm.jobs.retention", "run", "/srv/rcrm/rcrm/jobs/retention.py", 41, True,
                   "with pool.connection() as conn:"),
            _Frame("rcrm.db.pool", "connection", "/srv/rcrm/rcrm/db/pool.py", 63, True,
                   "conn = psycopg2.connect(self.dsn, connect_timeout=self.timeout)", 2, _db_vars),
            _Frame("psycopg2", "connect", "/usr/lib/python3/dist-packages/psycopg2/__init__.py", 122, False,
                   "conn = _connect(dsn, connection_factory=connection_factory, **kwasync)"),
        ), fingerprint=("database-unavailable",)),
    _Crash(
        "upload_timeout", "python", "rcrm-server", 6.0, (0, 2), "TimeoutError",
        lambda r, c: f"Recording upload timed out after {r.choice([30000, 45000, 60000])} ms "
                     f"(chunk {r.randint(1, 400)})",
        "builtins", (
            _Frame("rcrm.recordings.tasks", "ingest", "/srv/rcrm/rcrm/recordings/tasks.py", 130, True,
                   "store.upload(recording, stream)", 4),
            _Frame("rcrm.recordings.store", "upload_chunk", "/srv/rcrm/rcrm/recordings/store.py", 77, True,
                   "raise TimeoutError(f'Recording upload timed out after {ms} ms (chunk {n})')", 5, _upload_vars),
        )),
    _Crash(
        "csv_value", "python", "rcrm-server", 3.0, (1, 2), "ValueError",
        lambda r, c: "invalid literal for int() with base 10: 'N/A'", "builtins", (
            _Frame("rcrm.imports.csv_reader", "read_rows", "/srv/rcrm/rcrm/imports/csv_reader.py", 54, True,
                   "yield self.parse_row(row)"),
            _Frame("rcrm.imports.csv_reader", "parse_row", "/srv/rcrm/rcrm/imports/csv_reader.py", 71, True,
                   "minutes = int(row['minutes'])", 1),
        )),
    _Crash(
        "invoice_value", "python", "rcrm-server", 2.0, (0, 1, 2), "ValueError",
        lambda r, c: "invalid literal for int() with base 10: 'N/A'", "builtins", (
            _Frame("rcrm.billing.invoice", "build", "/srv/rcrm/rcrm/billing/invoice.py", 33, True,
                   "lines = [self.line_total(item) for item in order.items]"),
            _Frame("rcrm.billing.invoice", "line_total", "/srv/rcrm/rcrm/billing/invoice.py", 48, True,
                   "return int(item['amount']) * item['quantity']", 0, _invoice_vars),
        ), handled=True, mechanism="logging"),
    _Crash(
        "retention_skip", "python", "rcrm-server", 4.0, (0, 1, 2),
        message=lambda r, c: (f"Retention job skipped {r.randint(2, 900)} recordings under legal hold "
                              f"(run {r.randint(1000, 9999)})",
                              "Retention job skipped %s recordings under legal hold (run %s)"),
        level="warning"),
    _Crash(
        "card_declined", "python", "rcrm-server", 2.5, (1, 2),
        message=lambda r, c: (f"Payment gateway declined card {r.choice(_CARDS)} for order {r.randint(80000, 89999)}",
                              None),
        level="warning"),
    _Crash(
        "player_undefined", "javascript", "rcrm-web", 8.0, (0, 1, 2), "TypeError",
        lambda r, c: "Cannot read properties of undefined (reading 'duration')", None,
        _REACT + (
            _Frame(None, "CallPlayer", "webpack:///./src/components/CallPlayer.tsx", 87, True,
                   "const total = recording.meta.duration;", 2),
            _Frame(None, "formatDuration", "webpack:///./src/lib/time.ts", 14, True,
                   "return `${Math.floor(value.duration / 60)}:${pad(value.duration % 60)}`", 1),
        ), mechanism="onerror"),
    _Crash(
        "chunk_load", "javascript", "rcrm-web", 3.0, (2,), "ChunkLoadError",
        lambda r, c: f"Loading chunk {r.randint(10, 99)} failed. (error: https://app.rcrm.local/static/js/"
                     f"{r.randint(10, 99)}.{_token(r, 8)}.chunk.js)", None, (
            _Frame(None, "requireEnsure", "https://app.rcrm.local/static/js/runtime.3f9a1c2e.js", 1, False),
            _Frame(None, "loadRoute", "webpack:///./src/routes/index.tsx", 41, True,
                   "const Page = await import(`./pages/${name}`);"),
        ), mechanism="onunhandledrejection"),
    _Crash(
        "fetch_failed", "javascript", "rcrm-web", 4.0, (0, 1, 2), "TypeError",
        lambda r, c: "NetworkError when attempting to fetch resource.", None, (
            _Frame(None, "request", "webpack:///./src/api/client.ts", 58, True,
                   "const response = await fetch(url, { headers, credentials: 'include' });", 3),
            _Frame(None, "loadCustomer", "webpack:///./src/api/customers.ts", 22, True,
                   "return request(`/v1/customers/${id}`);"),
        ), fingerprint=("network-error", "{{ default }}"), mechanism="onunhandledrejection"),
    _Crash(
        "sync_npe", "java", "rcrm-android", 6.0, (0, 1, 2), "NullPointerException",
        lambda r, c: "Attempt to invoke virtual method 'java.lang.String com.rcrm.model.Customer.getEmail()' on a "
                     "null object reference", "java.lang",
        _ANDROID + (
            _Frame("com.rcrm.sync.CustomerSyncWorker", "doWork", "CustomerSyncWorker.java", 64, True,
                   "customers.forEach(c -> push(c.getEmail(), c));", 5),
            _Frame("com.rcrm.sync.CustomerSyncWorker", "lambda$doWork$3", "CustomerSyncWorker.java", 66, True,
                   "push(c.getEmail(), c);", 5),
        ), mechanism="UncaughtExceptionHandler"),
    _Crash(
        "socket_timeout", "java", "rcrm-android", 3.5, (1, 2), "SocketTimeoutException",
        lambda r, c: "timeout", "java.net", (
            _Frame("okhttp3.internal.http2.Http2Stream$StreamTimeout", "newTimeoutException", "Http2Stream.kt", 675,
                   False),
            _Frame("okhttp3.internal.connection.RealCall", "execute", "RealCall.kt", 154, False),
            _Frame("com.rcrm.api.ApiClient", "execute", "ApiClient.java", 118, True,
                   "Response response = http.newCall(request).execute();", 2),
            _Frame("com.rcrm.recordings.UploadService", "uploadPending", "UploadService.java", 92, True,
                   "api.execute(uploadRequest(recording));"),
        ), chained=("java.io.InterruptedIOException", "timeout")),
)


# ---------------------------------------------------------------- assembling an event


def _when(rng: random.Random, now: dt.datetime, releases: tuple[int, ...], span_days: float) -> tuple[dt.datetime, int]:
    """A time inside one of the crash's releases; newer times are likelier (traffic grows)."""
    release = rng.choice(releases)
    start = sum(share for _, share in RELEASES[:release])
    share = RELEASES[release][1]
    fraction = start + share * (rng.random() ** 0.7)
    when = now - dt.timedelta(days=span_days * (1 - fraction), seconds=rng.randint(60, 3000))
    return when, release


def _frame_json(frame: _Frame, release: int, rng: random.Random, ctx: dict[str, Any], platform: str
                ) -> dict[str, Any]:
    line = frame.line + frame.drift * release
    out: dict[str, Any] = {"function": frame.function, "lineno": line, "in_app": frame.in_app}
    if frame.module:
        out["module"] = frame.module
    if platform == "javascript":
        out["filename"] = frame.filename
        out["abs_path"] = frame.filename.replace("webpack:///./", "https://app.rcrm.local/")
        out["colno"] = rng.randint(5, 60)
    elif platform == "java":
        out["filename"] = frame.filename
    else:
        out["filename"] = frame.filename.removeprefix("/srv/rcrm/")
        out["abs_path"] = frame.filename if frame.in_app else frame.filename
    if frame.context:
        indent = "    " if platform == "python" else "  "
        out["context_line"] = indent + frame.context
        out["pre_context"] = [indent[:-4] + f"def {frame.function}(self, payload):" if platform == "python"
                              else f"function {frame.function}() {{", indent + "# validated upstream"
                              if platform == "python" else indent + "// validated upstream", ""]
        out["post_context"] = ["", indent + "return result" if platform == "python" else indent + "return result;"]
    if frame.vars is not None:
        out["vars"] = frame.vars(rng, ctx)
    return out


def _breadcrumbs(rng: random.Random, when: dt.datetime, ctx: dict[str, Any], platform: str) -> list[dict[str, Any]]:
    crumbs: list[dict[str, Any]] = []
    t = when - dt.timedelta(seconds=rng.randint(20, 120))
    steps: list[dict[str, Any]] = [
        {"category": "auth", "message": f"User {ctx['email']} logged in from {ctx['ip']}", "level": "info"},
        {"category": "navigation", "data": {"from": "/calls", "to": f"/calls/{rng.randint(1000, 9999)}"}},
        {"category": "http", "type": "http", "data": {
            "method": "GET", "status_code": 200,
            "url": f"https://api.rcrm.local/v1/customers?email={ctx['email']}&token={_token(rng, 24)}"}},
        {"category": "ui.click", "message": "button#play-recording"},
        {"category": "query", "message": f"SELECT * FROM customer WHERE phone = '{_phone(rng)}'", "level": "debug"},
        {"category": "http", "type": "http", "level": "error", "data": {
            "method": "POST", "status_code": 500, "url": "https://api.rcrm.local/v1/calls/summary"}},
    ]
    if platform == "java":
        steps[1] = {"category": "navigation", "data": {"screen": "CallDetailActivity"}}
    for step in steps[: rng.randint(3, len(steps))]:
        t += dt.timedelta(seconds=rng.uniform(0.5, 20))
        crumb = {"timestamp": t.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z"), "level": "info", **step}
        crumbs.append(crumb)
    return crumbs


def _contexts(rng: random.Random, crash: _Crash, release: str, ctx: dict[str, Any]) -> dict[str, Any]:
    if crash.platform == "python":
        return {"os": {"name": "Linux", "version": rng.choice(["6.1.0", "5.15.0"]), "kernel_version": "6.1.0-18"},
                "runtime": {"name": "CPython", "version": rng.choice(["3.11.9", "3.12.4"])},
                "app": {"app_name": crash.app, "app_version": release}}
    if crash.platform == "javascript":
        os_name = rng.choice(["Windows", "Windows", "macOS", "Linux"])
        return {"os": {"name": os_name, "version": {"Windows": "10", "macOS": "14.5", "Linux": ""}[os_name]},
                "browser": {"name": rng.choice(["Chrome", "Firefox", "Edge"]), "version": str(rng.randint(118, 128))},
                "app": {"app_name": crash.app, "app_version": release}}
    return {"os": {"name": "Android", "version": rng.choice(["13", "14"])},
            "device": {"name": f"{ctx['name'].split()[0]}'s phone", "model": rng.choice(["Pixel 7", "SM-A546B"]),
                       "manufacturer": rng.choice(["Google", "samsung"]), "battery_level": rng.randint(5, 100)},
            "runtime": {"name": "Android", "version": "14"},
            "app": {"app_name": crash.app, "app_version": release, "app_build": str(420 + rng.randint(0, 30))}}


def sample_events(n: int, *, seed: int, user_ids: list[str], now: dt.datetime,
                  span_days: float = 90.0) -> list[dict[str, Any]]:
    """``n`` Sentry events spread over the ``span_days`` before ``now`` (naive UTC or aware)."""
    rng = random.Random(seed)
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    weights = [c.weight for c in CRASHES]
    events: list[dict[str, Any]] = []
    for _ in range(n):
        crash = rng.choices(CRASHES, weights)[0]
        when, release_index = _when(rng, now, crash.releases, span_days)
        version = RELEASES[release_index][0]
        release = f"{crash.app}@{version}"
        name, email = _person(rng)
        ctx = {"name": name, "email": email, "ip": _ip(rng), "login": email.split("@")[0].split(".")[0]}
        event: dict[str, Any] = {
            "event_id": f"{rng.getrandbits(128):032x}",
            "timestamp": when.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if rng.random() < 0.8 else round(when.replace(tzinfo=dt.UTC).timestamp(), 3),
            "platform": crash.platform,
            "level": crash.level,
            "logger": {"python": "rcrm.server", "javascript": "rcrm.web", "java": "com.rcrm"}[crash.platform],
            "release": release,
            "environment": "production" if rng.random() < 0.85 else rng.choice(["staging", "canary"]),
            "server_name": f"rcrm-app-{rng.randint(1, 4)}" if crash.platform == "python" else None,
            "tags": {"customer_tier": rng.choice(["standard", "premium"]), "locale": rng.choice(["sk-SK", "cs-CZ",
                                                                                                   "en-GB"]),
                     **crash.tags},
            "contexts": _contexts(rng, crash, release, ctx),
            "breadcrumbs": {"values": _breadcrumbs(rng, when, ctx, crash.platform)},
            "sdk": {"name": {"python": "sentry.python", "javascript": "sentry.javascript.react",
                             "java": "sentry.java.android"}[crash.platform], "version": "2.14.0"},
        }
        if event["server_name"] is None:
            del event["server_name"]
        if crash.exc_type is not None:
            frames = [_frame_json(f, release_index, rng, ctx, crash.platform) for f in crash.frames]
            value = crash.value(rng, ctx) if crash.value else ""
            exc: dict[str, Any] = {"type": crash.exc_type, "value": value,
                                   "mechanism": {"type": crash.mechanism, "handled": crash.handled},
                                   "stacktrace": {"frames": frames}}
            if crash.exc_module:
                exc["module"] = crash.exc_module
            values = [exc]
            if crash.chained:
                values.insert(0, {"type": crash.chained[0].rsplit(".", 1)[-1], "module": crash.chained[0]
                                  .rsplit(".", 1)[0], "value": crash.chained[1],
                                  "stacktrace": {"frames": frames[-1:]}})
            event["exception"] = {"values": values}
        if crash.message is not None:
            formatted, template = crash.message(rng, ctx)
            event["logentry" if template else "message"] = (
                {"formatted": formatted, "message": template} if template else formatted)
        if crash.fingerprint:
            event["fingerprint"] = list(crash.fingerprint)
        if crash.platform == "python":
            event["request"] = {
                "method": "POST", "url": "https://api.rcrm.local/v1/calls/summary",
                "query_string": f"session_id={_token(rng, 20)}&page=1",
                "headers": {"Authorization": f"Bearer {_token(rng, 40)}", "Cookie": f"sessionid={_token(rng, 32)}",
                            "User-Agent": "rcrm-desktop/4.2", "X-Forwarded-For": ctx["ip"]},
                "data": {"customer_email": email, "note": f"Call back on {_phone(rng)}",
                         "card_number": rng.choice(_CARDS)},
                "env": {"REMOTE_ADDR": ctx["ip"]}}
        extra: dict[str, Any] = {"request_id": f"{rng.getrandbits(64):016x}", "worker": rng.randint(1, 8)}
        if rng.random() < 0.4:
            extra["payment"] = {"card": rng.choice(_CARDS), "iban": rng.choice(_IBANS), "holder": name}
        if rng.random() < 0.3:
            extra["debug_note"] = f"customer {email} called from {_phone(rng)}; password=Summer{rng.randint(10, 99)}!"
        event["extra"] = extra
        roll = rng.random()
        if user_ids and roll < 0.6:
            user_id = rng.choice(user_ids)
            event["user"] = {"id": user_id, "username": email.split("@")[0], "email": email,
                             "ip_address": ctx["ip"]}
        elif roll < 0.8:
            event["user"] = {"id": f"anon-{rng.randint(10_000, 99_999)}", "ip_address": ctx["ip"]}
        events.append(event)
    events.sort(key=lambda e: e["event_id"])
    return events
