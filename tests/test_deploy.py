"""The deployment files, read as data: compose.yaml, deploy/k8s/*, deploy/env.example, Dockerfile.

No Docker engine or cluster is needed. Each check ties a file to the code it runs, so a renamed
command, a probe at a missing route, a misspelt CAMTAY_ variable or a label that no longer
matches fails here instead of in production.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from fastapi.routing import APIRoute
from starlette.routing import Mount
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.settings import Settings
from tests.conftest import ROOT
from webhook.app import create_app

COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ENV_EXAMPLE = DEPLOY / "env.example"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
APP_SERVICES = ("migrate", "web", "worker")
ENV_NAME = re.compile(r"\bCAMTAY_[A-Za-z0-9_]+")
NON_ROOT_UID = 10001
TMP = "/tmp"  # noqa: S108 -- the path the pods mount an emptyDir on, not a file opened here

Doc = dict[str, Any]


# --- reading the files ----------------------------------------------------------------------


def _compose() -> Doc:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "compose.yaml is not a mapping"
    return data


def _services() -> dict[str, Doc]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _manifest_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def _documents(path: Path) -> list[Doc]:
    documents = [
        document
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document is not None
    ]
    assert all(isinstance(document, dict) for document in documents), path.name
    return documents


def _objects() -> list[Doc]:
    """Every Kubernetes object in deploy/k8s except the kustomization itself."""
    return [
        document
        for path in _manifest_files()
        if path.name != "kustomization.yaml"
        for document in _documents(path)
    ]


def _object(kind: str, name: str) -> Doc:
    found = [
        document
        for document in _objects()
        if document["kind"] == kind and document["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _pod_specs() -> Iterator[tuple[str, Doc]]:
    for document in _objects():
        if document["kind"] in ("Deployment", "Job"):
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def _containers() -> Iterator[tuple[str, Doc]]:
    for name, pod in _pod_specs():
        for container in pod["containers"]:
            yield f"{name}/{container['name']}", container


def _only_container(kind: str, name: str) -> Doc:
    containers = _object(kind, name)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, name
    container: Doc = containers[0]
    return container


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _words(arguments: str) -> list[str]:
    """A Dockerfile instruction's words, exec form (JSON) or shell form."""
    if arguments.startswith("["):
        words = json.loads(arguments)
        assert isinstance(words, list)
        return [str(word) for word in words]
    return shlex.split(arguments)


def _camtay_invocations(command: list[str] | str) -> list[list[str]]:
    """The `camtay …` calls in a command: exec form, or inside `sh -c "a && exec b"`."""
    if isinstance(command, str):
        command = shlex.split(command)
    if len(command) >= 3 and command[0] in ("sh", "/bin/sh", "bash") and command[1] == "-c":
        calls = []
        for part in re.split(r"&&|\|\||;", command[2]):
            words = shlex.split(part)
            if words and words[0] == "exec":
                words = words[1:]
            if words and words[0] == "camtay":
                calls.append(words[1:])
        return calls
    return [command[1:]] if command and command[0] == "camtay" else []


def _all_camtay_invocations() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for name, service in _services().items():
        if "command" in service:
            found += [(f"compose {name}", call) for call in _camtay_invocations(service["command"])]
    for name, container in _containers():
        command = [*container.get("command", []), *container.get("args", [])]
        found += [(f"k8s {name}", call) for call in _camtay_invocations(command)]
    for keyword, arguments in _dockerfile():
        if keyword in ("CMD", "ENTRYPOINT", "RUN"):
            found += [("Dockerfile", call) for call in _camtay_invocations(_words(arguments))]
    return found


def _env_names() -> dict[str, set[str]]:
    """Every CAMTAY_* name written in a deployment file, by file."""
    files = [COMPOSE, DOCKERFILE, ENV_EXAMPLE, *_manifest_files()]
    return {
        path.relative_to(ROOT).as_posix(): set(ENV_NAME.findall(path.read_text(encoding="utf-8")))
        for path in files
    }


def _probe_paths() -> set[str]:
    paths: set[str] = set()
    for _, container in _containers():
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in container and "httpGet" in container[probe]:
                paths.add(container[probe]["httpGet"]["path"])
    for _, pod in _pod_templates():
        annotations = pod.get("metadata", {}).get("annotations", {})
        if annotations.get("prometheus.io/scrape") == "true":
            paths.add(annotations["prometheus.io/path"])
    for service in _services().values():
        test = service.get("healthcheck", {}).get("test", [])
        text = test if isinstance(test, str) else " ".join(test)
        paths.update(re.findall(r"http://127\.0\.0\.1:8000(/[A-Za-z0-9_/-]*)", text))
    for keyword, arguments in _dockerfile():
        if keyword == "HEALTHCHECK":
            paths.update(re.findall(r"http://127\.0\.0\.1:8000(/[A-Za-z0-9_/-]*)", arguments))
    return paths


def _pod_templates() -> Iterator[tuple[str, Doc]]:
    for document in _objects():
        if document["kind"] in ("Deployment", "Job"):
            yield document["metadata"]["name"], document["spec"]["template"]


def _app_routes() -> set[str]:
    """GET routes and mounts of the web app, built the way the tests build it (no lifespan)."""
    web = create_app(Settings(_env_file=None, report_refresh_seconds=0))
    paths: set[str] = set()
    for route in web.routes:
        if (isinstance(route, APIRoute) and "GET" in (route.methods or ())) or isinstance(
            route, Mount
        ):
            paths.add(route.path)
    return paths


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


# --- compose.yaml ---------------------------------------------------------------------------


def test_compose_is_the_compose_spec_with_the_five_services() -> None:
    compose = _compose()
    assert "version" not in compose, "the compose spec has no `version:` key"
    assert set(_services()) == {"postgres", "redis", *APP_SERVICES}


def test_every_compose_service_has_an_image_or_a_build() -> None:
    for name, service in _services().items():
        assert service.get("image") or service.get("build"), name
    services = _services()
    assert str(services["postgres"]["image"]).startswith("postgres:16")
    assert str(services["redis"]["image"]).startswith("redis:7")
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(images) == 1, f"migrate, web and worker must run one image: {images}"
    for name in APP_SERVICES:
        build = services[name].get("build")
        context = build.get("context", ".") if isinstance(build, dict) else build
        assert context in (".", "./"), f"{name} is not built from the repository's Dockerfile"


def test_postgres_and_redis_are_healthchecked_and_keep_their_data() -> None:
    compose, services = _compose(), _services()
    postgres = " ".join(_as_list(services["postgres"]["healthcheck"]["test"]))
    assert "pg_isready" in postgres
    redis = " ".join(_as_list(services["redis"]["healthcheck"]["test"]))
    assert "redis-cli" in redis
    assert "ping" in redis
    volumes = [str(volume) for volume in services["postgres"].get("volumes", [])]
    data = [volume for volume in volumes if volume.endswith(":/var/lib/postgresql/data")]
    assert data, "PostgreSQL's data directory is not on a volume"
    assert data[0].split(":")[0] in (compose.get("volumes") or {}), "declare the named volume"


def test_migrations_run_once_before_web_and_worker() -> None:
    services = _services()
    migrate = services["migrate"]
    assert _camtay_invocations(migrate["command"]) == [["db", "upgrade"]]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
        for call in _camtay_invocations(services[name]["command"]):
            assert call[:2] != ["db", "upgrade"], (
                f"{name} must not migrate: the migrate service does"
            )


def test_web_scales_out_and_is_healthchecked_on_readyz() -> None:
    web = _services()["web"]
    assert _camtay_invocations(web["command"])[0][0] == "serve"
    assert "container_name" not in web, "a fixed container_name stops `--scale web=N`"
    for port in web.get("ports", []):
        spec = str(port["target"] if isinstance(port, dict) else port)
        if isinstance(port, dict):
            assert "published" not in port, "a fixed host port clashes when scaled"
        else:
            assert spec.split(":")[-1] == "8000"
            assert spec.count(":") == 0, f"{spec}: a fixed host port clashes when scaled"
    test = " ".join(_as_list(web["healthcheck"]["test"]))
    assert "/readyz" in test
    assert str(web["environment"]["CAMTAY_EMBEDDED_WORKER"]).lower() == "false"


def test_the_worker_works_the_outbox_and_comes_back() -> None:
    worker = _services()["worker"]
    assert _camtay_invocations(worker["command"]) == [["worker"]]
    assert worker["restart"] == "unless-stopped"
    # The image's HEALTHCHECK asks :8000/healthz, which the worker does not serve.
    assert worker["healthcheck"].get("disable") is True


def test_app_services_read_their_secrets_from_the_env_file() -> None:
    for name in APP_SERVICES:
        entries = _services()[name]["env_file"]
        paths = [entry["path"] if isinstance(entry, dict) else entry for entry in entries]
        assert ".env" in paths, name
    assert ENV_EXAMPLE.exists(), "deploy/env.example is what .env is copied from"


# --- deploy/k8s -----------------------------------------------------------------------------


def test_manifests_are_namespace_agnostic_objects() -> None:
    objects = _objects()
    assert objects
    for document in objects:
        assert document.get("apiVersion"), document
        assert document.get("kind"), document
        assert document["metadata"].get("name"), document
        assert "namespace" not in document["metadata"], document["metadata"]["name"]


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    (kustomization,) = _documents(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), f"kustomization lists {resource}, which does not exist"
    expected = {
        path.name
        for path in _manifest_files()
        if path.name not in ("kustomization.yaml", SECRET_EXAMPLE.name)
    }
    assert set(resources) == expected
    # Applying must never replace the real Secret with placeholders.
    assert SECRET_EXAMPLE.name not in resources
    images = {image["name"] for image in kustomization.get("images", [])}
    for name, container in _containers():
        assert container["image"].split(":")[0] in images, f"{name}: image not set by kustomize"


def test_the_example_secret_is_an_example() -> None:
    (secret,) = _documents(SECRET_EXAMPLE)
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "camtay-secrets"
    assert "EXAMPLE" in SECRET_EXAMPLE.read_text(encoding="utf-8")
    assert "data" not in secret, "placeholders go in stringData, readable"
    for name, value in secret["stringData"].items():
        assert value == "" or "change-me" in value or "example" in value, name


def test_workloads_read_the_config_map_and_the_secret() -> None:
    config = _object("ConfigMap", "camtay-config")
    assert config["data"]
    for name, container in _containers():
        sources = container.get("envFrom", [])
        maps = {source["configMapRef"]["name"] for source in sources if "configMapRef" in source}
        secrets = {source["secretRef"]["name"] for source in sources if "secretRef" in source}
        assert maps == {"camtay-config"}, name
        assert secrets == {"camtay-secrets"}, name


def test_web_deployment_probes_and_replicas() -> None:
    web = _object("Deployment", "camtay-web")
    assert web["spec"]["replicas"] == 2
    container = _only_container("Deployment", "camtay-web")
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        port = container[probe]["httpGet"]["port"]
        assert ports.get(port, port) == 8000, probe
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    assert env["CAMTAY_EMBEDDED_WORKER"] == "false"
    call = _camtay_invocations([*container["command"], *container.get("args", [])])
    assert call, container["command"]
    assert call[0][0] == "serve"
    assert "0.0.0.0" in call[0]  # noqa: S104
    assert not any(word == "upgrade" for word in call[0]), "web replicas must not migrate"


def test_web_pods_are_scraped_by_prometheus_on_the_served_port() -> None:
    template = _object("Deployment", "camtay-web")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    container = _only_container("Deployment", "camtay-web")
    ports = {port["containerPort"] for port in container["ports"]}
    assert int(annotations["prometheus.io/port"]) in ports


def test_the_worker_runs_the_worker_command_and_serves_its_metrics() -> None:
    worker = _object("Deployment", "camtay-worker")
    assert worker["spec"]["replicas"] == 2
    container = _only_container("Deployment", "camtay-worker")
    assert _camtay_invocations(container["command"]) == [["worker"]]
    # `camtay worker` has no /healthz: an httpGet probe on it would restart it for ever.
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "httpGet" not in container.get(probe, {}), probe
    # Its metrics: CAMTAY_METRICS_PORT on CAMTAY_HOST, where the annotations send Prometheus.
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == env["CAMTAY_METRICS_PORT"]
    assert env["CAMTAY_HOST"] == "0.0.0.0"  # noqa: S104 -- reachable from Prometheus
    ports = {port["containerPort"] for port in container["ports"]}
    assert int(env["CAMTAY_METRICS_PORT"]) in ports


def test_the_migrate_job_upgrades_the_database_and_gives_up() -> None:
    job = _object("Job", "camtay-migrate")
    assert isinstance(job["spec"]["backoffLimit"], int)
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    container = _only_container("Job", "camtay-migrate")
    assert _camtay_invocations(container["command"]) == [["db", "upgrade"]]


def test_every_container_is_non_root_read_only_and_bounded() -> None:
    for name, pod in _pod_specs():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] == NON_ROOT_UID, name
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert TMP in mounts, f"{where}: no writable {TMP}"
            assert "emptyDir" in volumes[mounts[TMP]], f"{where}: {TMP} is not an emptyDir"
            resources = container["resources"]
            assert resources["requests"]["memory"], where
            assert resources["requests"]["cpu"], where
            assert resources["limits"]["memory"], where


def test_service_selects_the_web_pods() -> None:
    web = _object("Deployment", "camtay-web")
    labels = web["spec"]["template"]["metadata"]["labels"]
    matching = web["spec"]["selector"]["matchLabels"]
    assert matching.items() <= labels.items(), "the Deployment's selector misses its own pods"
    service = _object("Service", "camtay-web")
    assert service["spec"]["selector"].items() <= labels.items()
    worker_labels = _object("Deployment", "camtay-worker")["spec"]["template"]["metadata"]
    assert not service["spec"]["selector"].items() <= worker_labels["labels"].items(), (
        "the Service would send requests to workers"
    )
    container = _only_container("Deployment", "camtay-web")
    names = {port["name"] for port in container["ports"]}
    numbers = {port["containerPort"] for port in container["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in names | numbers, port


def test_the_hpa_scales_the_web_deployment_on_cpu() -> None:
    (hpa,) = [document for document in _objects() if document["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    assert _object("Deployment", target["name"])["metadata"]["name"] == "camtay-web"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    container = _only_container("Deployment", "camtay-web")
    assert container["resources"]["requests"]["cpu"], "CPU utilisation needs a CPU request"


def _surge(deployment: Doc, replicas: int) -> int:
    """The pods a rolling update adds beyond `replicas` (Kubernetes's default: 25 %, up)."""
    strategy = deployment["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return -(-replicas * int(surge[:-1]) // 100)
    return int(surge)


def test_the_pods_pools_fit_in_a_default_postgresql() -> None:
    """Every pod at the autoscaler's maximum, and the pods a rolling update adds, each with its
    pool full, stay within the connections a PostgreSQL with its default max_connections (100,
    3 of them reserved for superusers) lets applications open."""
    (hpa,) = [document for document in _objects() if document["kind"] == "HorizontalPodAutoscaler"]
    web = hpa["spec"]["maxReplicas"]
    web += _surge(_object("Deployment", "camtay-web"), web)
    worker = _object("Deployment", "camtay-worker")
    workers = worker["spec"]["replicas"] + _surge(worker, worker["spec"]["replicas"])
    pool = int(_object("ConfigMap", "camtay-config")["data"]["CAMTAY_DATABASE_POOL_SIZE"])
    assert (web, workers) == (11, 3)
    assert (web + workers) * pool <= 100 - 3


def test_composes_postgresql_takes_the_scaled_out_example() -> None:
    """deploy/README.md's `--scale web=3 --scale worker=2`, each pool full (the default size),
    with room left for the one-off commands."""
    command = _as_list(_services()["postgres"]["command"])
    (setting,) = [word for word in command if word.startswith("max_connections=")]
    assert "--scale web=3 --scale worker=2" in (DEPLOY / "README.md").read_text()
    assert (3 + 2) * Settings(_env_file=None).database_pool_size + 10 <= int(setting.split("=")[1])


# --- the commands, routes and settings the files name ---------------------------------------


def test_every_camtay_command_in_the_deployment_files_exists() -> None:
    calls = _all_camtay_invocations()
    seen = {" ".join(call[:2] if call[:1] == ["db"] else call[:1]) for _, call in calls}
    assert {"serve", "worker", "db upgrade"} <= seen, calls
    runner = CliRunner()
    for where, call in calls:
        shown = f"{where}: `camtay {' '.join(call)}`"
        # Walk the command path through the Typer app; what is left must parse as that
        # command's options and arguments (names, types, no extra words).
        command: Any = typer.main.get_command(cli_app)
        context = command.make_context("camtay", [], resilient_parsing=True)
        remaining, path = list(call), []
        while hasattr(command, "get_command") and remaining:
            command = command.get_command(context, remaining[0])
            assert command is not None, f"{shown}: no such command"
            path.append(remaining.pop(0))
        assert not hasattr(command, "get_command"), f"{shown}: names a group, not a command"
        result = runner.invoke(cli_app, [*path, "--help"])
        assert result.exit_code == 0, f"{shown}: --help says {result.output}"
        try:
            command.make_context(" ".join(["camtay", *path]), list(remaining))
        except Exception as error:
            pytest.fail(f"{shown}: {error}")


@pytest.mark.parametrize("path", sorted(_probe_paths() | {"/healthz", "/readyz", "/metrics"}))
def test_probes_and_scrapes_point_at_routes_the_app_serves(path: str) -> None:
    assert path in _app_routes(), f"the deployment files ask {path}; the app does not serve it"


def test_every_camtay_variable_is_a_real_setting() -> None:
    fields = set(Settings.model_fields)
    names = _env_names()
    assert any(names.values())
    for file, found in names.items():
        for name in found:
            field = name.lower().removeprefix("camtay_")
            assert field in fields, f"{file}: {name} is not a setting of bot.settings.Settings"


def test_the_examples_name_every_secret_setting() -> None:
    secrets = {
        f"CAMTAY_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert secrets
    assert secrets <= _env_names()["deploy/env.example"]
    (secret,) = _documents(SECRET_EXAMPLE)
    assert secrets <= set(secret["stringData"]), "secret.example.yaml misses a secret setting"
    assert {"CAMTAY_DATABASE_URL", "CAMTAY_REDIS_URL"} <= set(secret["stringData"])


def test_the_examples_load_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("CAMTAY_")]:
        monkeypatch.delenv(name)
    from_env_file = Settings(_env_file=ENV_EXAMPLE)
    assert from_env_file.public_url is not None
    assert from_env_file.telegram_token is None, "an empty value must mean `not set`"
    data: dict[str, str] = {}
    data |= _object("ConfigMap", "camtay-config")["data"]
    (secret,) = _documents(SECRET_EXAMPLE)
    data |= secret["stringData"]
    for name, value in data.items():
        monkeypatch.setenv(name, str(value))
    from_kubernetes = Settings(_env_file=None)
    assert from_kubernetes.environment == "production"
    assert not from_kubernetes.embedded, "Kubernetes runs on a shared PostgreSQL"
    assert from_kubernetes.redis_url is not None


# --- Dockerfile and the rest ----------------------------------------------------------------


def test_the_image_copies_every_package_and_runs_as_the_pods_user() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [
        pattern.rstrip("*").rstrip(".")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    assert packages
    instructions = _dockerfile()
    copied = {
        source.rstrip("/")
        for keyword, arguments in instructions
        if keyword == "COPY"
        for source in [word for word in _words(arguments) if not word.startswith("--")][:-1]
    }
    for package in [*packages, "lessons"]:
        assert package in copied or "." in copied, f"the image never copies {package}/"
    users = [arguments.strip() for keyword, arguments in instructions if keyword == "USER"]
    assert users, "no USER: the image runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == str(NON_ROOT_UID), "a numeric USER lets runAsNonRoot verify it"
    assert re.search(rf"--uid {NON_ROOT_UID}\b", DOCKERFILE.read_text(encoding="utf-8"))


def test_no_package_registry_address_in_the_deployment_files() -> None:
    files = [COMPOSE, DOCKERFILE, *DEPLOY.rglob("*")]
    for path in files:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for hint in ("pypi.org", "pythonhosted.org", "--index-url"):
                assert hint not in text, f"{path.relative_to(ROOT)} names a registry ({hint})"


def test_the_deploy_readme_tells_how_to_run_scale_and_apply() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for needle in (
        "deploy/env.example",
        "docker compose up",
        "--scale web=",
        "CAMTAY_EMBEDDED_WORKER=false",
        "kubectl apply -k deploy/k8s",
        "/readyz",
        "/healthz",
    ):
        assert needle in text, needle
