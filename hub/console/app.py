"""The console's pages: the CLI's reports, server-rendered.

Every page is one of the documents the CLI prints with ``--json``, computed by
the same function of :mod:`hub.reports` and rendered by a Jinja2 template
(autoescaped: names and e-mails come from customers). ``?format=json`` on any
page answers that document itself. Nothing needs JavaScript.

========================  ===============================================
page                      the document (and the command printing it)
========================  ===============================================
``/``                     :func:`~hub.reports.status_json` (``hub status``)
``/runs``                 :func:`~hub.reports.runs_json` (``hub runs``)
``/runs/ID``              :func:`~hub.reports.run_json` and
                          :func:`~hub.reports.errors_json` (``hub errors --run``)
``/errors``               :func:`~hub.reports.errors_json` (``hub errors``)
``/quarantine``           :func:`~hub.reports.quarantine_json`
                          (``hub errors --quarantine``)
``/plan``                 :func:`~hub.reports.plan_summary` (``hub plan``)
``/inspect``              :func:`~hub.reports.inspect_subject` (``hub inspect``)
``/playbooks``            :func:`~hub.reports.playbooks_json` (``hub playbooks plan``)
``/fleet``                :func:`~hub.reports.fleet_json` (``hub fleet``)
========================  ===============================================

The plan, an inspection and the playbook preview read every source: they are
kept until hub.toml, a mapping, a playbook, a source file or the state store's
latest run changes (and at most ``[console] cache_seconds`` when a SQL source
or a moving as-of time makes the inputs unknowable without reading them).
"""

from __future__ import annotations

import glob
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from hub import __version__
from hub.config import load_settings
from hub.config.settings import HubSettings
from hub.config.watch import stamp
from hub.console.jobs import Jobs
from hub.console.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Signer,
    host_allowed,
    is_loopback,
    new_csrf,
    same_token,
)
from hub.errors import ConfigError, Problem, StateStoreError
from hub.state.locks import SyncLocks

__all__ = ["ConsoleApp", "console_problem"]

log = structlog.get_logger("hub.console")

#: Rows a list page shows at most, unless ``?limit=`` asks for more (up to MAX_LIMIT).
DEFAULT_LIMIT = 100
MAX_LIMIT = 5000

_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def console_problem(listen: str, token: str | None) -> Problem | None:
    """Why the console may not listen on ``listen``: beyond loopback, only
    with a token."""
    host = listen.rpartition(":")[0]
    if token or is_loopback(host):
        return None
    return Problem(
        f"the console would listen on {host}, beyond this machine, with no token",
        key="console.listen",
        expected="a loopback address (127.0.0.1:8400), or a token",
        hint="set HUB_CONSOLE__TOKEN (or a secret file of that name) to a long random value",
    )


class _Refused(Exception):
    """A request the console answers with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Entry:
    key: Any
    at: float
    value: Any


class _Cache:
    """Computed documents by name, each kept while its inputs' key holds."""

    #: Documents kept at most (inspections are one per subject).
    MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(
        self, name: str, key: Any, max_age: float | None, compute: Callable[[], Any]
    ) -> tuple[Any, float]:
        """``(value, computed at)``: the kept value of ``name`` when ``key``
        matches and it is younger than ``max_age`` (``None``: no limit), else
        a new one (one computation at a time per name)."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            entry = self._entries.get(name)
            now = time.time()
            if (
                entry is not None
                and entry.key == key
                and (max_age is None or now - entry.at < max_age)
            ):
                self._entries.move_to_end(name)
                return entry.value, entry.at
            value = compute()
            self._entries[name] = _Entry(key, now, value)
            self._entries.move_to_end(name)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)
            return value, now

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()


class _Middleware(BaseHTTPMiddleware):
    """Host check, sign-in for reading beyond loopback, security headers, the CSRF cookie."""

    def __init__(self, app: Any, console: ConsoleApp) -> None:
        super().__init__(app)
        self.console = console

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        console = self.console
        response: Response
        if not host_allowed(request.headers.get("host"), console.loopback):
            response = PlainTextResponse(
                "refused: this console answers loopback host names only\n", status_code=421
            )
        elif not console.may_read(request) and not _open_path(request):
            if _wants_json(request) or request.method != "GET":
                response = JSONResponse({"error": "sign in: a console token is needed"}, 401)
            else:
                target = request.url_for("login").include_query_params(
                    next=request.url.path + ("?" + request.url.query if request.url.query else "")
                )
                response = RedirectResponse(str(target), status_code=303)
        else:
            response = await call_next(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(
                CSRF_COOKIE,
                request.state.csrf if hasattr(request.state, "csrf") else new_csrf(),
                httponly=True,
                samesite="strict",
                path="/",
            )
        return response


def _open_path(request: Request) -> bool:
    """The sign-in page and the static files need no session."""
    name = request.scope.get("route_name")
    path = request.url.path
    return path.endswith("/login") or "/static/" in path or name == "login"


def _wants_json(request: Request) -> bool:
    return request.query_params.get("format") == "json"


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "")
    if not raw.isdigit():
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, int(raw)))


def _pretty(value: Any) -> str:
    """A JSON document for a ``<pre>``: indented, sorted (escaped by the template)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _when(value: str | None) -> str:
    """An ISO 8601 time as ``2026-12-04 05:00:49 UTC``."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    """A duration as ``0.42 s``, ``3 min 05 s`` or ``2 h 03 min``."""
    if value is None:
        return ""
    if value < 60:
        return f"{value:.2f} s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@pass_context
def _path_for(context: Any, name: str, /, **params: Any) -> URL:
    """The page ``name`` as a path (``/console/runs``), not an absolute URL:
    links keep working behind a proxy that rewrites the host or the scheme."""
    request: Request = context["request"]
    return URL(request.url_for(name, **params).path)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hub.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = _pretty
    env.filters["when"] = _when
    env.filters["seconds"] = _seconds
    env.globals["path_for"] = _path_for
    return env


class ConsoleApp:
    """The console of the project at ``config_path`` as an ASGI application
    (:attr:`app`), for ``hub console`` or the daemon's port.

    ``listen_host`` is the address it is served on (loopback: reading needs no
    sign-in). ``locks``: the daemon's own open locks, read instead of opening
    the store's for each request."""

    def __init__(
        self,
        config_path: Path,
        *,
        listen_host: str,
        settings: HubSettings | None = None,
        locks: Callable[[], SyncLocks | None] | None = None,
    ) -> None:
        self.config_path = config_path
        settings = settings if settings is not None else load_settings(config_path)
        token = settings.console.token
        self.signer: Signer | None = Signer(token) if token else None
        self.loopback = is_loopback(listen_host)
        self.cache_seconds = settings.console.cache_seconds
        self.jobs = Jobs(config_path)
        self._locks = locks
        self._cache = _Cache()
        self.templates = Jinja2Templates(env=_environment())
        routes = [
            Route("/", self.overview, name="overview"),
            Route("/runs", self.runs, name="runs"),
            Route("/runs/{run_id:int}", self.run, name="run"),
            Route("/errors", self.errors, name="errors"),
            Route("/quarantine", self.quarantine, name="quarantine"),
            Route("/plan", self.plan, name="plan"),
            Route("/inspect", self.inspect, name="inspect"),
            Route("/playbooks", self.playbooks, name="playbooks"),
            Route("/fleet", self.fleet, name="fleet"),
            Route("/jobs/{job_id:int}", self.job, name="job"),
            Route("/login", self.login, methods=["GET", "POST"], name="login"),
            Route("/logout", self.logout, methods=["POST"], name="logout"),
            Route(
                "/destinations/{name}/{action:str}",
                self.act,
                methods=["POST"],
                name="act",
            ),
            Mount("/static", StaticFiles(packages=[("hub.console", "static")]), name="static"),
        ]
        self.app = Starlette(
            routes=routes,
            middleware=[Middleware(_Middleware, console=self)],
            exception_handlers={_Refused: self._refused, Exception: self._crashed},
        )

    # -- who may do what ----------------------------------------------------------

    def signed_in(self, request: Request) -> bool:
        signer = self.signer
        if signer is None:
            return False
        return signer.bearer(request.headers.get("authorization")) or signer.valid(
            request.cookies.get(SESSION_COOKIE)
        )

    def may_read(self, request: Request) -> bool:
        return self.loopback or self.signed_in(request)

    def _check_form(self, request: Request, form: Any) -> None:
        """A POST from one of the console's own forms (or with the bearer token)."""
        if self.signer is not None and self.signer.bearer(request.headers.get("authorization")):
            return
        origin = request.headers.get("origin")
        if origin and origin not in ("null",) and origin != _own_origin(request):
            raise _Refused(403, "refused: the form was not sent from this console")
        if not same_token(form.get("csrf"), request.cookies.get(CSRF_COOKIE)):
            raise _Refused(
                403, "refused: the form's CSRF token does not match (reload the page and retry)"
            )

    # -- rendering ------------------------------------------------------------------

    def _page(
        self, request: Request, template: str, document: Any, status: int = 200, **extra: Any
    ) -> Response:
        if _wants_json(request):
            return JSONResponse(document, status_code=status)
        csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
        request.state.csrf = csrf
        context = {
            "doc": document,
            "csrf": csrf,
            "signed_in": self.signed_in(request),
            "actions_on": self.signer is not None,
            "version": __version__,
            "config": str(self.config_path),
            **extra,
        }
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    async def _refused(self, request: Request, error: Exception) -> Response:
        assert isinstance(error, _Refused)
        if _wants_json(request):
            return JSONResponse({"error": error.message}, status_code=error.status)
        return self._page(request, "message.html", {"error": error.message}, status=error.status)

    async def _crashed(self, request: Request, error: Exception) -> Response:
        if isinstance(error, ConfigError):
            problems = [str(problem) for problem in error.problems]
            return self._page(
                request,
                "message.html",
                {"error": "the configuration has problems", "problems": problems},
                status=422,
            )
        if isinstance(error, StateStoreError):
            return self._page(
                request,
                "message.html",
                {"error": "the state store cannot be used", "problems": [str(error.problem)]},
                status=503,
            )
        log.exception("console.page.crashed", path=request.url.path)
        return self._page(
            request,
            "message.html",
            {"error": f"this page failed ({type(error).__name__}); the console's log has why"},
            status=500,
        )

    # -- what the pages read ----------------------------------------------------------

    def settings(self) -> HubSettings:
        return load_settings(self.config_path)

    @contextmanager
    def _store(self, settings: HubSettings) -> Iterator[Any]:
        from hub.sync import open_store

        store = open_store(settings, self.config_path.parent, read_only=True)
        try:
            yield store
        finally:
            store.close()

    def _inputs(self, settings: HubSettings) -> tuple[Any, float | None]:
        """What the plan, an inspection and the playbook preview depend on,
        and how long they keep (``None``: while that holds)."""
        base = self.config_path.parent
        paths = {self.config_path}
        volatile = settings.events.as_of is None
        for destination in settings.destinations.values():
            if destination.mapping is not None:
                paths.add(base / destination.mapping)
        for pattern in settings.playbooks.paths:
            paths.update(Path(found) for found in glob.glob(str(base / pattern)))
        for source in settings.sources.values():
            if source.path is None:
                volatile = True  # a SQL source: its rows are only known by reading them
            else:
                paths.add(base / source.path)
        with self._store(settings) as store:
            latest = store.runs(limit=1)
        last = None if not latest else (latest[0].run_id, latest[0].status.value)
        key = (tuple(sorted((str(path), stamp(path)) for path in paths)), last)
        return key, (self.cache_seconds if volatile else None)

    def _computed(
        self,
        request: Request | None,
        name: str,
        settings: HubSettings,
        compute: Callable[[], Any],
    ) -> tuple[Any, float]:
        if request is not None and request.query_params.get("refresh"):
            self._cache.clear()
        key, max_age = self._inputs(settings)
        return self._cache.get(name, key, max_age, compute)

    def _resolution(self, request: Request | None, settings: HubSettings) -> tuple[Any, float]:
        return self._computed(request, "resolution", settings, self._resolve)

    def _resolve(self) -> Any:
        from hub.sync.pipeline import resolve

        return resolve(self.config_path, project_destinations=False)

    def _plan_document(self) -> dict[str, Any]:
        """``hub plan --json``."""
        from hub.reports import plan_summary
        from hub.sync import plan

        return plan_summary(plan(self.config_path))

    def warm(self) -> None:
        """Import what the pages use, compile the templates, and compute the
        plan, the resolution behind inspections and the playbook preview once,
        so that the first person to open them does not wait for a read of every
        source. ``hub console`` calls it in a thread as it starts; a page asked
        for meanwhile waits for the same computation, never runs a second. A
        configuration with problems is left for the pages to show."""
        import hub.engine.project  # DuckDB, which an inspection queries
        import hub.playbooks
        import hub.reports
        import hub.sync.pipeline  # noqa: F401

        began = time.perf_counter()
        for name in self.templates.env.list_templates():
            self.templates.env.get_template(name)
        try:
            settings = self.settings()
            self._resolution(None, settings)
            self._computed(None, "plan", settings, self._plan_document)
            if settings.playbooks.paths:
                self._computed(None, "playbooks", settings, self._playbook_plan)
        except Exception as error:  # the pages show it, with its location
            log.info("console.warm.skipped", reason=f"{type(error).__name__}: {error}")
            return
        log.info("console.warm", seconds=round(time.perf_counter() - began, 3))

    # -- pages ------------------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        from hub.reports import status_report

        settings = self.settings()
        locks = self._locks() if self._locks is not None else None
        document = status_report(settings, self.config_path.parent, locks=locks)
        jobs = [job.to_json() for job in self.jobs.recent()]
        return self._page(request, "overview.html", document, jobs=jobs)

    def runs(self, request: Request) -> Response:
        from hub.reports import runs_json

        settings = self.settings()
        destination = request.query_params.get("destination") or None
        before_text = request.query_params.get("before", "")
        before = int(before_text) if before_text.isdigit() else None
        limit = _limit(request)
        with self._store(settings) as store:
            document = runs_json(store.runs(destination, limit=limit, before=before))
        return self._page(
            request,
            "runs.html",
            document,
            destination=destination,
            destinations=sorted(settings.destinations),
            limit=limit,
        )

    def run(self, request: Request) -> Response:
        from hub.reports import errors_json, run_json

        settings = self.settings()
        run_id = int(request.path_params["run_id"])
        limit = _limit(request)
        with self._store(settings) as store:
            found = store.run(run_id)
            if found is None:
                raise _Refused(404, f"no run {run_id} in the state store")
            errors = errors_json(store.errors(run_id, limit=limit))
        document = {**errors, "run": run_json(found)}
        return self._page(request, "run.html", document, limit=limit)

    def errors(self, request: Request) -> Response:
        from hub.reports import errors_json

        settings = self.settings()
        destination = request.query_params.get("destination") or None
        limit = _limit(request)
        with self._store(settings) as store:
            document = errors_json(store.errors(None, destination, limit=limit))
        return self._page(
            request,
            "errors.html",
            document,
            destination=destination,
            destinations=sorted(settings.destinations),
            limit=limit,
        )

    def quarantine(self, request: Request) -> Response:
        from hub.reports import quarantine_json

        settings = self.settings()
        source = request.query_params.get("source") or None
        limit = _limit(request)
        with self._store(settings) as store:
            rows, total, loaded_at = store.quarantined(source, limit=limit)
        document = quarantine_json(rows, total, loaded_at)
        by_source: dict[str, list[dict[str, Any]]] = {}
        for row in document["rows"]:
            by_source.setdefault(row["source"], []).append(row)
        return self._page(
            request,
            "quarantine.html",
            document,
            by_source=by_source,
            source=source,
            sources=sorted(settings.sources),
            limit=limit,
        )

    def plan(self, request: Request) -> Response:
        settings = self.settings()
        document, at = self._computed(request, "plan", settings, self._plan_document)
        return self._page(request, "plan.html", document, computed_at=_epoch(at))

    def inspect(self, request: Request) -> Response:
        from hub.reports import inspect_subject, missing_subject

        kind = request.query_params.get("kind", "user")
        if kind not in ("user", "account"):
            kind = "user"
        subject_id = request.query_params.get("id", "").strip()
        context: dict[str, Any] = {"kind": kind, "subject_id": subject_id}
        if not subject_id:
            return self._page(request, "inspect.html", {}, missing=None, **context)
        settings = self.settings()

        def compute() -> tuple[dict[str, Any], dict[str, Any] | None]:
            resolution, _ = self._resolution(request, settings)
            missing = missing_subject(resolution, kind, subject_id)
            if missing is not None:
                return missing, missing
            return inspect_subject(resolution, kind, subject_id), None

        (document, missing), at = self._computed(
            request, f"inspect:{kind}:{subject_id}", settings, compute
        )
        context["computed_at"] = _epoch(at)
        status = 404 if missing is not None else 200
        return self._page(request, "inspect.html", document, status, missing=missing, **context)

    def playbooks(self, request: Request) -> Response:
        settings = self.settings()
        if not settings.playbooks.paths:
            return self._page(request, "playbooks.html", None)
        document, at = self._computed(request, "playbooks", settings, self._playbook_plan)
        return self._page(request, "playbooks.html", document, computed_at=_epoch(at))

    def _playbook_plan(self) -> dict[str, Any]:
        """``hub playbooks plan --json``: who would enter, which actions would run."""
        from hub.playbooks import open_playbook_store, run_resolution
        from hub.reports import playbooks_json
        from hub.sync import open_store
        from hub.sync.pipeline import resolve

        resolution = resolve(self.config_path, project_destinations=False)
        settings = resolution.project.settings
        store = open_playbook_store(settings, self.config_path.parent, read_only=True)
        sync_store = open_store(settings, self.config_path.parent, read_only=True)
        try:
            report = run_resolution(
                resolution, store, lambda: datetime.now(UTC), dry_run=True, sync_store=sync_store
            )
        finally:
            store.close()
            sync_store.close()
        return playbooks_json(report, resolution.as_of)

    def fleet(self, request: Request) -> Response:
        from hub.reports import fleet_report

        locks = self._locks() if self._locks is not None else None
        document = fleet_report(self.settings(), self.config_path.parent, locks=locks)
        return self._page(request, "fleet.html", document)

    def job(self, request: Request) -> Response:
        found = self.jobs.get(int(request.path_params["job_id"]))
        if found is None:
            raise _Refused(404, "no such job (the console keeps its latest 50, until restarted)")
        return self._page(request, "job.html", found.to_json())

    # -- signing in, actions ----------------------------------------------------------

    async def login(self, request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self._page(request, "login.html", {}, next=target, failed=False)
        form = await request.form()
        self._check_form(request, form)
        target = _safe_next(str(form.get("next") or ""))
        if self.signer is None:
            raise _Refused(403, "no console token is set: set HUB_CONSOLE__TOKEN to sign in")
        if not self.signer.token_matches(str(form.get("token") or "")):
            log.warning("console.login.failed", client=_client(request))
            return self._page(request, "login.html", {}, 401, next=target, failed=True)
        log.info("console.login", client=_client(request))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.signer.session(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        self._check_form(request, form)
        response = RedirectResponse(str(request.url_for("overview")), status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def act(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        action = str(request.path_params["action"])
        form = await request.form()
        self._check_form(request, form)
        if action not in ("retry", "sync"):
            raise _Refused(404, f"no action {action!r}: retry or sync")
        if self.signer is None:
            raise _Refused(403, "actions are off: set HUB_CONSOLE__TOKEN to turn them on")
        if not self.signed_in(request):
            raise _Refused(401, "sign in first: actions need the console token")
        settings = self.settings()
        if name not in settings.destinations:
            raise _Refused(404, f"no destination {name!r} in {self.config_path.name}")
        job = self.jobs.start(action, name)
        log.info("console.action", action=action, destination=name, client=_client(request))
        if _wants_json(request):
            return JSONResponse(job.to_json(), status_code=202)
        return RedirectResponse(str(request.url_for("job", job_id=job.job_id)), status_code=303)


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def _safe_next(value: str | None) -> str:
    """A local path to go back to after signing in (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "./"
    return value


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _epoch(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
