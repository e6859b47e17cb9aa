"""``miniwdl-fargate serve``: the app's GA4GH WES API on this machine, over the local mode.

The routes are the Chalice app's own (``app.py``), served by Chalice's local server, so the API
the CLI talks to locally is the one API Gateway serves on AWS. The app picks its adapters from the
environment (``chalicelib.deployment``): serving sets ``MINIWDL_FARGATE_HOME`` and refuses an AWS
deployment's ``MINIWDL_FARGATE_TABLE``.

``app.py`` sits at the root of the project checkout, beside ``chalicelib/`` (the package is
installed editable from it), and is loaded from there by path.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import sys
from collections.abc import MutableMapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any

from .deployment import ENV_TABLE
from .local_mode import ENV_HOME
from .wes_client import ENV_API_AUTH

if TYPE_CHECKING:
    from chalice.app import Chalice
    from chalice.local import LocalDevServer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
APP_MODULE = "miniwdl_fargate_app"


class ServeError(RuntimeError):
    """The API cannot be served; the message says why, in one line."""


def app_path() -> Path:
    """Where ``app.py`` is: the project root, the parent of this package's directory."""
    return Path(__file__).resolve().parent.parent / "app.py"


def load_app(path: Path | None = None) -> Chalice:
    """Import ``app.py`` from ``path`` (default: the checkout's) and return its ``app``."""
    path = path or app_path()
    if not path.is_file():
        raise ServeError(
            f"serve needs the project's app.py beside chalicelib/ ({path} is missing):"
            " install miniwdl-fargate editable from a checkout (pip install -e .)"
        )
    try:
        from chalice.app import Chalice
    except ImportError:
        raise ServeError(
            "serve needs Chalice: pip install chalice (it comes with the dev extras, .[dev])"
        ) from None
    module = _import_file(path)
    app = getattr(module, "app", None)
    if not isinstance(app, Chalice):
        raise ServeError(f"{path} defines no Chalice object named app")
    return app


def _import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(APP_MODULE, path)
    if spec is None or spec.loader is None:
        raise ServeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[APP_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[APP_MODULE]
        raise
    return module


def prepare_environment(home: str, environ: MutableMapping[str, str]) -> None:
    """Point the app at the local mode's ``home``; refuse an AWS deployment's environment.

    The app reads both when it is imported and per request. Chalice's local server cannot check
    IAM signatures (it admits every request), so the app is told its API is unauthenticated,
    which its service-info then says.
    """
    if environ.get(ENV_TABLE):
        raise ServeError(
            f"{ENV_TABLE} is set, which selects the AWS control plane; serve runs the local"
            f" mode's API: unset {ENV_TABLE}"
        )
    environ[ENV_HOME] = os.path.abspath(home)
    environ[ENV_API_AUTH] = "none"


def create_server(app: Chalice, host: str, port: int) -> LocalDevServer:
    """Chalice's local server for ``app`` on ``host:port`` (port 0: any free port).

    Its requests become API Gateway proxy events; bodies of the app's ``binary_types`` (the
    ``multipart/form-data`` of ``POST /runs``) arrive base64-encoded, as API Gateway sends them.
    """
    from chalice.config import Config
    from chalice.local import (
        ChaliceRequestHandler,
        LambdaEventConverter,
        LocalGateway,
        RouteMatcher,
        create_local_server,
    )

    class MediaTypeEventConverter(LambdaEventConverter):
        """Chalice's converter compares the whole Content-Type (boundary included) under a
        lower-case header name only; API Gateway matches the media type, any header case."""

        def _is_binary(self, headers: dict[str, Any]) -> bool:
            content_type = next(
                (str(v) for k, v in headers.items() if k.lower() == "content-type"), ""
            )
            return is_binary_type(content_type, self._binary_types)

    class RequestHandler(ChaliceRequestHandler):
        """Chalice's handler with the converter above."""

        def __init__(
            self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any
        ) -> None:
            gateway = LocalGateway(app_object, config)
            gateway.event_converter = MediaTypeEventConverter(
                RouteMatcher(list(app_object.routes)), app_object.api.binary_types
            )
            self.local_gateway = gateway
            BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    config = Config.create(app_name=app.app_name, lambda_timeout=900, lambda_memory_size=512)
    server = create_local_server(app, config, host, port)
    # create_local_server takes no handler class: give its HTTP server ours.
    server.server.RequestHandlerClass = functools.partial(
        RequestHandler, app_object=app, config=config
    )
    return server


def is_binary_type(content_type: str, binary_types: list[str]) -> bool:
    """Whether a request's Content-Type names one of ``binary_types`` (its media type only)."""
    media = content_type.split(";", 1)[0].strip().lower()
    types = {t.lower() for t in binary_types}
    return bool(media) and (media in types or "*/*" in types)


def serve(home: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Serve the API until Ctrl-C (or SIGTERM); returns the exit code, 0."""
    prepare_environment(home, os.environ)
    app = load_app()
    try:
        server = create_server(app, host, port)
    except OSError as exn:
        raise ServeError(f"cannot listen on {host}:{port}: {exn.strerror or exn}") from None
    bound_host, bound_port = server.server.server_address[:2]
    shown_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    url = f"http://{shown_host}:{bound_port}"
    print(
        f"serving the WES API of {os.environ[ENV_HOME]} on {url}/ga4gh/wes/v1"
        f"\nuse it with: export MINIWDL_FARGATE_API={url}",
        flush=True,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: the local API has no authentication and listens on {host}", file=sys.stderr
        )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server.server_close()
    print("stopped serving", file=sys.stderr)
    return 0
