"""deploy/ checked statically: every file parses, and each names what korea-qa needs (the
Milvus port, the Serve import path, settings that exist). No cluster is started here."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from korea_qa.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
# Read by korea_qa.scale.serve, not by Settings.
SERVE_VARIABLES = {"KOREA_QA_REPLICAS", "KOREA_QA_REPLICA_CPUS"}


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


def known_variable(name: str) -> bool:
    if not name.startswith("KOREA_QA_"):
        return name in {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
    return name in SERVE_VARIABLES or name.removeprefix("KOREA_QA_").lower() in \
        Settings.model_fields


def test_every_manifest_parses() -> None:
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert len(files) == 4
    for path in files:
        assert isinstance(yaml.safe_load(path.read_text()), dict), path


@pytest.mark.parametrize(("name", "cluster"), [("milvus/values-standalone.yaml", False),
                                               ("milvus/values-cluster.yaml", True)])
def test_helm_values_choose_the_mode_and_the_port(name: str, cluster: bool) -> None:
    values = load(name)
    assert values["cluster"]["enabled"] is cluster
    assert values["service"]["port"] == 19530
    assert "authorizationEnabled: true" in values["extraConfigFiles"]["user.yaml"]
    if cluster:
        assert values["queryNode"]["replicas"] >= 2 and values["etcd"]["replicaCount"] == 3


def test_compose_runs_milvus_standalone_on_loopback() -> None:
    services = load("milvus/docker-compose.yml")["services"]
    assert set(services) == {"etcd", "minio", "standalone"}
    standalone = services["standalone"]
    assert standalone["image"].startswith("milvusdb/milvus:v2.6")
    assert "127.0.0.1:19530:19530" in standalone["ports"]
    assert set(standalone["depends_on"]) == {"etcd", "minio"}


def test_the_rayservice_serves_korea_qa_from_milvus() -> None:
    service = load("ray/rayservice.yaml")
    assert (service["apiVersion"], service["kind"]) == ("ray.io/v1", "RayService")
    assert service["metadata"]["name"]
    serve = yaml.safe_load(service["spec"]["serveConfigV2"])
    (app,) = serve["applications"]
    module, _, attribute = app["import_path"].partition(":")
    assert attribute == "app"
    # The import path names our module, and the module builds `app` on demand.
    loaded = importlib.import_module(module)
    assert callable(loaded.__getattr__) and callable(loaded.application)
    env = app["runtime_env"]["env_vars"]
    assert env["KOREA_QA_STORE"] == "milvus" and env["KOREA_QA_MILVUS_URI"].endswith(":19530")
    assert all(known_variable(v) for v in env), [v for v in env if not known_variable(v)]
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"]
    pods = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
    for pod in pods:
        (container,) = pod["template"]["spec"]["containers"]
        assert container["image"] and container["resources"]["requests"]["cpu"]
        names = {e["name"] for e in container["env"]}
        assert names == {"KOREA_QA_API_KEY", "KOREA_QA_MILVUS_TOKEN"}
        assert all(known_variable(n) for n in names)
    workers = cluster["workerGroupSpecs"][0]
    assert workers["minReplicas"] <= workers["replicas"] <= workers["maxReplicas"]
    assert int(env["KOREA_QA_REPLICAS"]) <= workers["replicas"] * int(
        workers["rayStartParams"]["num-cpus"]) // int(env["KOREA_QA_REPLICA_CPUS"])
