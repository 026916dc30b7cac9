"""Serving replicas: the unchanged FastAPI app (`korea_qa.api.create_app`) behind Ray Serve.

Each replica builds the app from `KOREA_QA_*` variables (passed to it as its runtime
environment), so it loads the model once and reads the shared store (Milvus) like any
korea-qa server: N replicas answer from one Milvus, and a write made through any of them is
seen by the others within `watch_interval_s`. Each response says which replica answered
(`X-Korea-QA-Replica: <node>/<actor>`), for load tests and debugging.

    korea-qa serve --ray auto --replicas 2          # on a running Ray cluster
    import_path: korea_qa.scale.serve:app           # Serve config / KubeRay RayService
"""

from __future__ import annotations

import os
from typing import Any

from korea_qa.settings import Settings

REPLICA_HEADER = "x-korea-qa-replica"
# Settings that never go to replicas through the environment: they are for this process.
LOCAL_ONLY = ("host", "port")


class ReplicaHeader:
    """ASGI middleware: names the replica in every HTTP response."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REPLICA_HEADER.encode(), self.name)]
            await send(message)

        await self.app(scope, receive, named)


def build_app() -> Any:
    """The app of one replica, from its environment (runs inside the replica)."""
    import ray

    from korea_qa.api import create_app

    app = create_app(Settings())
    context = ray.get_runtime_context()
    name = f"{context.get_node_id()[:12]}/{(context.get_actor_id() or '')[:12]}"
    app.add_middleware(ReplicaHeader, name=name)
    return app


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the KOREA_QA_* variables a replica reads (secrets included)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None or name in LOCAL_ONLY:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list | dict):
            import json

            value = json.dumps(value)
        env[f"KOREA_QA_{name.upper()}"] = str(value)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


def application(settings: Settings, replicas: int, *, cpus: float = 1.0) -> Any:
    """The Serve application: `replicas` copies of the app, `cpus` each."""
    from ray import serve

    class KoreaQA:
        """The app itself does the work; this class is only where Serve puts it."""

    ingress = serve.ingress(build_app)(KoreaQA)
    deployment: Any = serve.deployment(
        ingress, name="korea-qa", num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus,
                           "runtime_env": {"env_vars": settings_env(settings)}})
    return deployment.bind()


def run(address: str, settings: Settings, replicas: int, *, blocking: bool = True) -> None:
    """`korea-qa serve --ray ADDRESS --replicas N`: the HTTP proxy on settings.host:port."""
    import ray
    from ray import serve

    ray.init(address=address, ignore_reinit_error=True)
    serve.start(proxy_location="HeadOnly",
                http_options={"host": settings.host, "port": settings.port})
    serve.run(application(settings, replicas), name="korea-qa", route_prefix="/",
              blocking=blocking)


def __getattr__(name: str) -> Any:
    """`korea_qa.scale.serve:app` for a Serve config file or a KubeRay RayService: the
    application built from this process's KOREA_QA_* variables; KOREA_QA_REPLICAS replicas
    (default 2) of KOREA_QA_REPLICA_CPUS CPUs (default 1)."""
    if name == "app":
        return application(Settings(), int(os.environ.get("KOREA_QA_REPLICAS", "2")),
                           cpus=float(os.environ.get("KOREA_QA_REPLICA_CPUS", "1")))
    raise AttributeError(name)
