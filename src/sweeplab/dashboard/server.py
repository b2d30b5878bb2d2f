"""``sweeplab dashboard``: an aiohttp app over the results store.

    /                          sweeps: experiment, scheduler, searcher, state, trial counts, best
    /sweep/{id}                one sweep: trials table, learning curves, metric against each
                               hyperparameter, chosen config, images, reports (and the Pareto
                               front with its hypervolume, for a sweep of several objectives)
    /api/sweeps                JSON list the index page uses
    /api/sweeps/{id}           one sweep's summary
    /api/sweeps/{id}/trials    trials (config, metrics at the best epoch, observations), chosen config
    /api/sweeps/{id}/curves    every trial's metric by iteration and searched values
    /api/sweeps/{id}/history/{trial}   every reported row of one trial
    /api/sweeps/{id}/decisions   the scheduler's decisions by rung (recorded, or derived)
    /api/sweeps/{id}/importance  each searched parameter's importance (Optuna's PED-ANOVA)
    /api/sweeps/{id}/parallel    parallel coordinates: parameters (log axes where searched so)
    /api/sweeps/{id}/best_so_far best value against epochs and trial-hours, random's expectation
    /api/sweeps/{id}/front       several objectives: each trial's point, the front, the chosen one,
                                 the observed front's hypervolume against epochs and seconds
    /compare?ids=A,B, /api/compare?ids=A,B   sweeps of one experiment side by side
    /files/{id}/{path}         a file inside the sweep folder (images, REPORT.md, report.html)
    /static/...                the pages' script and style, and plotly's bundled JavaScript

Bound to 127.0.0.1 unless asked otherwise; nothing is fetched from the internet. A request
naming another host than the one bound (or loopback) is refused: a web page's script cannot
reach the dashboard through a DNS name rebound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import sys
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from ..errors import UserError
from .data import VIEWS, Catalog, NotFound, safe_file

STATIC = Path(__file__).resolve().parent / "static"


def plotly_js() -> Path:
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise UserError(f"{path}: plotly's bundled JavaScript is missing; reinstall plotly")
    return path


def _strict_dumps(obj: Any) -> str:
    return json.dumps(obj, allow_nan=False)  # a NaN would make the page's JSON.parse fail


LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")


def _hostname(host: str) -> str:
    """A Host header's name: 'example.org:8266' -> 'example.org', '[::1]:8266' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _guard(bound: str):
    """Refuse a NUL byte in the path (400) and, unless bound to every interface, a Host
    header naming neither the bound host nor loopback (403)."""
    allowed = None if bound in WILDCARD else {*LOOPBACK, _hostname(bound)}

    @web.middleware
    async def guard(request: web.Request, handler):
        if "\0" in request.path:
            raise web.HTTPBadRequest(text="a NUL byte in the path")
        host = request.headers.get("Host")
        if allowed is not None and host is not None and _hostname(host) not in allowed:
            raise web.HTTPForbidden(text=f"host {host!r} is not this dashboard's; use http://{bound}:PORT/")
        return await handler(request)

    return guard


def _ids(request: web.Request) -> list[str]:
    return [i for i in request.query.get("ids", "").split(",") if i]


def make_app(roots: list[str], host: str = "127.0.0.1") -> web.Application:
    catalog = Catalog(roots)
    plotly_path = plotly_js()

    async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
        # reading Parquet and running the rules takes a moment; keep the loop answering
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))

    def api(fn):
        async def handler(request: web.Request) -> web.Response:
            try:
                body = await in_thread(fn, request)
                return web.json_response(body, dumps=_strict_dumps)
            except NotFound as e:
                return web.json_response({"error": f"not found: {e.args[0]}"}, status=404)
            except UserError as e:
                return web.json_response({"error": str(e)}, status=409)

        return handler

    async def page(name: str, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})

    async def sweep_page(request: web.Request) -> web.StreamResponse:
        try:
            catalog.path(request.match_info["sweep"])
        except NotFound:
            raise web.HTTPNotFound(text=f"no sweep {request.match_info['sweep']!r}") from None
        return await page("sweep.html", request)

    async def files(request: web.Request) -> web.FileResponse:
        try:
            root = catalog.path(request.match_info["sweep"])
        except NotFound:
            raise web.HTTPNotFound(text="no such sweep") from None
        target = safe_file(root, request.match_info["path"])
        if target is None:
            raise web.HTTPNotFound(text="no such file in this sweep")
        return web.FileResponse(target)

    async def plotly(request: web.Request) -> web.FileResponse:
        return web.FileResponse(plotly_path, headers={"Cache-Control": "max-age=86400"})

    app = web.Application(middlewares=[_guard(host)])
    app.add_routes(
        [
            web.get("/", functools.partial(page, "index.html")),
            web.get("/sweep/{sweep}", sweep_page),
            web.get("/api/sweeps", api(lambda r: catalog.sweeps())),
            web.get("/api/sweeps/{sweep}", api(lambda r: catalog.summary(r.match_info["sweep"]))),
            web.get("/api/sweeps/{sweep}/trials", api(lambda r: catalog.trials(r.match_info["sweep"]))),
            web.get("/api/sweeps/{sweep}/curves", api(lambda r: catalog.curves(r.match_info["sweep"]))),
            *[
                web.get(
                    f"/api/sweeps/{{sweep}}/{name}",
                    api(functools.partial(lambda name, r: catalog.view(r.match_info["sweep"], name), name)),
                )
                for name in VIEWS
            ],
            web.get("/api/compare", api(lambda r: catalog.compare(_ids(r)))),
            web.get("/compare", functools.partial(page, "compare.html")),
            web.get(
                "/api/sweeps/{sweep}/history/{trial}",
                api(lambda r: catalog.history(r.match_info["sweep"], r.match_info["trial"])),
            ),
            web.get("/files/{sweep}/{path:.*}", files),
            web.get("/static/plotly.min.js", plotly),
            web.static("/static", STATIC),
        ]
    )
    return app


class Background:
    """The app on ``host:port`` (0: a free port) in a daemon thread with its own event loop:
    beside a running sweep (``tune --dashboard``) and in tests. ``url`` ends with "/"."""

    def __init__(self, roots: list[str], host: str = "127.0.0.1", port: int = 0):
        import threading

        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(make_app([str(r) for r in roots], host))
        ready, failed = threading.Event(), []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.runner.setup())
                site = web.TCPSite(self.runner, host, port)
                self.loop.run_until_complete(site.start())
                self.port = self.runner.addresses[0][1]  # the port bound, where 0 asked for any
            except OSError as e:
                failed.append(e)
                return
            finally:
                ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="sweeplab-dashboard", daemon=True)
        self.thread.start()
        ready.wait(30)
        if failed:
            raise UserError(f"dashboard: cannot listen on {host}:{port} ({failed[0].strerror})")
        self.url = f"http://{host}:{self.port}/"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_in_thread(roots: list[str], host: str = "127.0.0.1", port: int = 0) -> str:
    return Background(roots, host, port).url


def host_warning(host: str) -> str | None:
    if host in LOOPBACK:
        return None
    return (
        f"sweeplab: warning: the dashboard listens on {host}: anyone who can reach this machine "
        "can read these sweeps (there is no login)"
    )


def serve(roots: list[str], host: str = "127.0.0.1", port: int = 8266) -> None:
    app = make_app(roots, host)
    warning = host_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    try:  # bound here, so the URL printed has the port bound (--port 0: any free one)
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        raise UserError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror})") from None
    print(f"sweeplab dashboard: http://{shown}:{sock.getsockname()[1]}/  (Ctrl-C to stop)", flush=True)
    web.run_app(app, sock=sock, print=None, handle_signals=True)
