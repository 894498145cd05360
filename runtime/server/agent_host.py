"""The agent host: one process per running agent version, started by the local runtime.

Run as a script with the agent's own virtualenv Python, in the unpacked package's directory::

    python agent_host.py --port N --entrypoint src.main:handler [--rest src.rest.index:mount] [--ui ui]

It imports nothing of the platform (the agent's venv does not have it). Why not the SDK's
``pixell run-dev``: it fails at once in both published releases (docs/DECISIONS.md, "Local agent
runtime"). This host keeps the shapes that dev server intends:

* ``GET /`` → ``{"status": "ready", "agent": {...}}`` once the entrypoint imported and is callable;
* ``POST /invoke`` ``{"action", "data"}`` → ``{"status": "success"|"error", "data", "error"}``;
  the entrypoint is called in this process (not a fresh subprocess per call, as the SDK's dev server
  does: that would put an interpreter start on every invocation);
* the manifest's ``rest`` entry (``module:function``) is called with the FastAPI app to add routes;
* the ``ui`` folder is served under ``/ui``.

With FastAPI and uvicorn in the agent's venv (the SDK's template requires them) it serves through
them; without, a stdlib server answers ``/`` and ``/invoke`` (and ``/ui``), and a ``rest`` entry is
an error, since it needs FastAPI.

No ``from __future__ import annotations`` here: FastAPI resolves the ``Request`` annotation at
runtime, and it is imported inside a function.

The entrypoint is imported *before* the port is opened: a version whose module cannot import never
answers, exits non-zero, and its traceback is the last lines of its output.
"""

import argparse
import asyncio
import importlib
import inspect
import json
import os
import sys
import traceback
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


def _load(target: str):
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name.replace("/", "."))
    function = getattr(module, attr, None)
    if not callable(function):
        raise SystemExit(f"entrypoint {target!r}: {module_name} has no callable {attr!r}")
    return function


def _call(handler, body) -> dict:
    """One invocation: the SDK's {"status","data","error"} answer; the agent's errors are data."""
    if not isinstance(body, dict) or not isinstance(body.get("action", ""), str):
        return {"status": "error", "data": None, "error": "invocation must be {action, data}"}
    context = {"action": body.get("action", ""), "data": body.get("data") or {}}
    try:
        result = handler(context)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
        json.dumps(result)  # the answer must be JSON: say so here rather than fail the transport
    except Exception as exc:  # the agent's own failure is an answer, not a crash of the host
        traceback.print_exc()
        return {"status": "error", "data": None, "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "success", "data": result, "error": None}


def _fastapi_app(handler, agent: dict, rest: str | None, ui: str | None):
    # FastAPI is optional in the agent's venv (see the module's docstring): imported only once
    # main() has found it there.
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title=agent.get("name") or "agent")

    @app.get("/")
    def root():
        return {"status": "ready", "agent": agent}

    @app.post("/invoke")
    async def invoke(request: Request):
        try:
            body = await request.json()
        except ValueError:
            body = None
        # A sync handler must not block the event loop: run it on the thread pool.
        return JSONResponse(await run_in_threadpool(_call, handler, body))

    if rest:
        _load(rest)(app)
    if ui and os.path.isdir(ui):
        # Only for a package with a UI: older Starlette releases need aiofiles for it.
        from fastapi.staticfiles import StaticFiles

        app.mount("/ui", StaticFiles(directory=ui, html=True), name="ui")
    return app


def _serve_stdlib(handler, agent: dict, port: int, ui: str | None) -> None:
    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _json(self, status: int, value) -> None:
            data = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/":
                return self._json(200, {"status": "ready", "agent": agent})
            if ui and self.path.startswith("/ui"):
                self.path = self.path[3:] or "/"
                return super().do_GET()
            return self._json(404, {"detail": "Not Found"})

        def do_POST(self):
            if self.path != "/invoke":
                return self._json(404, {"detail": "Not Found"})
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                body = None
            return self._json(200, _call(handler, body))

        def log_message(self, *args):  # the runtime keeps the agent's output, not access lines
            pass

    directory = os.path.abspath(ui) if ui and os.path.isdir(ui) else os.getcwd()
    ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=directory)).serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--rest")
    parser.add_argument("--ui")
    parser.add_argument("--name", default="")
    parser.add_argument("--version", default="")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    handler = _load(args.entrypoint)
    agent = {"name": args.name, "version": args.version, "entrypoint": args.entrypoint}
    try:
        # Optional in the agent's venv: without them, the stdlib server below.
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        if args.rest:
            raise SystemExit(
                "the manifest's rest entry needs fastapi and uvicorn in requirements.txt"
            ) from None
        print(f"agent host (stdlib) on 127.0.0.1:{args.port}", flush=True)
        _serve_stdlib(handler, agent, args.port, args.ui)
        return
    app = _fastapi_app(handler, agent, args.rest, args.ui)
    print(f"agent host (uvicorn) on 127.0.0.1:{args.port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
