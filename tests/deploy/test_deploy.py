"""deploy/ validated offline: the compose file against the compose-spec JSON schema (the copy check-jsonschema
vendors; no Docker engine or `docker compose` binary is needed), the Kubernetes manifests against a pinned
Kubernetes version's schemas (kubernetes-validate, strict), and what no schema can see: every setting a manifest
gives cx-sla exists in starter/service/settings.py, commands are real `cxsla` commands, ports, probes, mounts, secrets,
Prometheus rule files and Grafana provisioning point at things that exist, search attributes match
workflows/search_attributes.py, and the namespace/search-attribute init script works against a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from copy import deepcopy
from functools import cache
from importlib.resources import files
from pathlib import Path, PurePosixPath

import jsonschema
import kubernetes_validate
import pytest
import typer.core
import typer.main
import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from starter.cli.main import app as cli_app
from starter.cli.main import register as register_commands
from starter.service.binaries import temporal_cli
from starter.service.settings import Settings
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.33.0"  # the oldest minor the manifests promise to fit (autoscaling/v2, policy/v1)
PROMTOOL = shutil.which("promtool")
ACTIVITY_START_TO_CLOSE = 30  # seconds: notify / send_survey (workflows/complaint.py)
CXSLA_SERVICES = ("worker", "api", "codec-server")


# ---- shared facts -----------------------------------------------------------------------------------------------
@cache
def settings_env_names() -> frozenset[str]:
    names = Settings.environment_names()
    assert "TEMPORAL_ADDRESS" in names and "CXSLA_CODEC_KEY_FILE" in names
    return names


def looks_like_a_setting(name: str) -> bool:
    return name.startswith(("CXSLA_", "TEMPORAL_"))


@cache
def cxsla_commands() -> frozenset[str]:
    register_commands(None)
    root = typer.main.get_command(cli_app)
    assert isinstance(root, typer.core.TyperGroup)
    return frozenset(root.commands)


def search_attribute_pairs() -> list[str]:
    flags = sa.cli_flags()
    return [flags[i + 1] for i in range(0, len(flags), 2)]


# ---- compose: interpolation as `docker compose` does it ---------------------------------------------------------
_INTERPOLATION = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    pass


def interpolate(value, env: dict[str, str]):
    """`$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        spec = match["braced"]
        found = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?", spec, re.S)
        if not found:
            raise InterpolationError(f"invalid interpolation ${{{spec}}}")
        name, op, arg = found.groups()
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-") and unset:
            return arg
        if op in (":?", "?") and unset:
            raise InterpolationError(f"{name}: {arg}")
        return current or ""

    return _INTERPOLATION.sub(one, value)


def example_env(path: Path, *, commented: bool = True) -> dict[str, str]:
    """NAME=value lines of an env example file; commented-out ones (documented optional names) if `commented`."""
    env = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"(#?)\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match and (commented or not match[1]):
            env[match[2]] = match[3]
    return env


@cache
def compose_raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@cache
def compose() -> dict:
    return interpolate(compose_raw(), example_env(DEPLOY / "env.example", commented=False))


@cache
def compose_schema() -> dict:
    return json.loads((files("check_jsonschema.builtin_schemas") / "vendor" / "compose-spec.json").read_text())


def compose_errors(document: dict) -> list[str]:
    validator_class = jsonschema.validators.validator_for(compose_schema())
    validator = validator_class(compose_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def service(name: str) -> dict:
    return compose()["services"][name]


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def mounts(svc: dict) -> list[tuple[str, str]]:
    """(source, target) of bind mounts and named volumes, short syntax."""
    out = []
    for volume in svc.get("volumes", []):
        source, target = volume.split(":")[:2]
        out.append((source, target))
    return out


def host_path(source: str) -> Path:
    return (DEPLOY / source).resolve()


def container_to_host(svc: dict, container_path: str) -> Path | None:
    """Where a path inside the container lives in the repository, through the service's bind mounts."""
    path = PurePosixPath(container_path)
    for source, target in mounts(svc):
        if source.startswith("."):
            try:
                rest = path.relative_to(target)
            except ValueError:
                continue
            return host_path(source) / rest
    return None


# ---- compose ----------------------------------------------------------------------------------------------------
def test_compose_file_is_valid_against_the_compose_spec():
    assert compose_schema()["title"] == "Compose Specification"
    assert compose_errors(compose()) == []
    assert compose_errors(compose_raw()) == []  # before interpolation too (ports and counts stay strings)
    # the schema does catch mistakes: a misspelled key, a wrong type, an unknown restart policy
    broken = deepcopy(compose())
    broken["services"]["worker"]["healthcheck"]["intervall"] = "5s"
    broken["services"]["api"]["ports"] = "8080:8080"
    broken["services"]["grafana"]["depends_on"] = {"prometheus": {"condition": "service_ready"}}
    errors = compose_errors(broken)
    assert any("intervall" in e for e in errors), errors
    assert any(e.startswith("services/api/ports") for e in errors), errors
    assert any("service_ready" in e for e in errors), errors


def test_compose_needs_the_database_password_and_no_other_unset_variable():
    with pytest.raises(InterpolationError, match="(POSTGRES|ARCHIVE_DB)_PASSWORD"):
        interpolate(compose_raw(), {})
    with pytest.raises(InterpolationError, match="ARCHIVE_DB_PASSWORD"):
        interpolate(compose_raw(), {"POSTGRES_PASSWORD": "x"})
    text = json.dumps(compose())
    assert "${" not in text and "change-me" in text


def test_compose_has_the_whole_stack():
    services = compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker", "api", "codec-server", "prometheus", "grafana",
            "temporal-schema", "temporal-init", "archive-db"} <= services.keys()
    assert environment(service("worker"))["CXSLA_ARCHIVE_URL"].startswith("postgresql+psycopg://cxsla:")
    temporal = environment(service("temporal"))
    assert temporal["DB"] == "postgres12" and temporal["POSTGRES_SEEDS"] == "postgresql"
    assert service("temporal")["image"].startswith("temporalio/server:")
    assert service("temporal")["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    for name in CXSLA_SERVICES:
        svc = service(name)
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / svc["build"]["context"]).resolve() == ROOT
        assert svc["depends_on"]["temporal-init"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in svc, name
        assert environment(svc)["TEMPORAL_ADDRESS"].split(":")[0] == "temporal"


def test_compose_sets_only_real_settings_for_cxsla():
    for name in CXSLA_SERVICES:
        env = environment(service(name))
        assert env, name
        assert set(env) - settings_env_names() == set(), f"{name} sets names starter/service/settings.py does not read"
    documented = example_env(DEPLOY / "cxsla.env.example")
    assert documented and set(documented) - settings_env_names() == set()


def test_compose_commands_are_cxsla_commands():
    for name in CXSLA_SERVICES:
        command = service(name)["command"]
        assert command[0] in cxsla_commands(), name
    assert service("worker")["command"] == ["worker"] and service("api")["command"] == ["api"]
    assert service("codec-server")["command"] == ["codec-server"]


def test_compose_keeps_secrets_out_of_the_file():
    secrets = compose()["secrets"]
    for name in CXSLA_SERVICES:
        env = environment(service(name))
        for literal in ("CXSLA_CODEC_KEYS", "CXSLA_API_TOKENS", "CXSLA_WEBHOOK_SECRET", "TEMPORAL_API_KEY"):
            assert literal not in env, f"{name}: {literal} would put a secret into compose.yaml"
        for variable in ("CXSLA_CODEC_KEY_FILE", "CXSLA_API_TOKENS_FILE"):
            if variable in env:
                secret = PurePosixPath(env[variable])
                assert secret.parent == PurePosixPath("/run/secrets"), variable
                assert secret.name in service(name)["secrets"] and secret.name in secrets, (name, variable)
        assert environment(service(name))["CXSLA_REQUIRE_ENCRYPTION"] == "true"
    assert "CXSLA_API_TOKENS_FILE" in environment(service("api"))
    assert "CXSLA_API_TOKENS_FILE" in environment(service("codec-server"))
    for name, secret in secrets.items():
        path = host_path(secret["file"])
        assert path.parent == DEPLOY / "secrets", name
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
    for local in (".env", "cxsla.env"):
        assert subprocess.run(["git", "check-ignore", "-q", str(DEPLOY / local)], cwd=ROOT).returncode == 0
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in environment(service("grafana"))
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment(service("grafana"))


def _published(svc: dict) -> dict[int, int]:
    """container port -> host port."""
    out = {}
    for port in svc.get("ports", []):
        parts = str(port).split(":")
        out[int(parts[-1])] = int(parts[-2])
        assert len(parts) == 3 and parts[0] == "127.0.0.1", f"{port}: publish on loopback only"
    return out


def test_compose_ports_probes_and_the_codec_endpoint_agree():
    worker, api, codec = (environment(service(n)) for n in CXSLA_SERVICES)
    assert worker["CXSLA_METRICS_HOST"] == api["CXSLA_API_HOST"] == codec["CXSLA_CODEC_SERVER_HOST"] == "0.0.0.0"
    checks = {"worker": f"127.0.0.1:{worker['CXSLA_METRICS_PORT']}/metrics",
              "api": f"127.0.0.1:{api['CXSLA_API_PORT']}/readyz",
              "codec-server": f"('127.0.0.1', {codec['CXSLA_CODEC_SERVER_PORT']})"}
    for name, needle in checks.items():
        assert needle in " ".join(service(name)["healthcheck"]["test"]), name
    assert int(api["CXSLA_API_PORT"]) in _published(service("api"))
    codec_port = int(codec["CXSLA_CODEC_SERVER_PORT"])
    host_codec_port = _published(service("codec-server"))[codec_port]
    ui = environment(service("temporal-ui"))
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{host_codec_port}"
    ui_host_port = _published(service("temporal-ui"))[8080]
    assert f"http://localhost:{ui_host_port}" in codec["CXSLA_CODEC_CORS_ORIGINS"].split(",")


def test_compose_registers_exactly_the_search_attributes():
    env = environment(service("temporal-init"))
    assert env["SEARCH_ATTRIBUTES"].split() == search_attribute_pairs()
    assert env["TEMPORAL_NAMESPACE"] == environment(service("worker"))["TEMPORAL_NAMESPACE"]


def test_compose_mounts_exist():
    for name, svc in compose()["services"].items():
        for source, _ in mounts(svc):
            if source.startswith("."):
                assert host_path(source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose()["volumes"], f"{name}: volume {source} is not declared"
        entry = svc.get("entrypoint")
        if entry and entry[0] == "/bin/sh":
            script = container_to_host(svc, entry[1])
            assert script and script.is_file(), name
            assert subprocess.run(["sh", "-n", str(script)]).returncode == 0, f"{script}: syntax"
    dynamic = environment(service("temporal"))["DYNAMIC_CONFIG_FILE_PATH"]
    config = container_to_host(service("temporal"), "/etc/temporal/" + dynamic)
    assert config and config.is_file() and isinstance(yaml.safe_load(config.read_text()), dict)


# ---- Prometheus and Grafana wiring ------------------------------------------------------------------------------
@cache
def prometheus_config() -> dict:
    return yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())


def test_prometheus_loads_every_rule_file_and_scrapes_worker_and_api():
    prom = service("prometheus")
    config_arg = next(a for a in prom["command"] if a.startswith("--config.file="))
    assert container_to_host(prom, config_arg.split("=", 1)[1]) == DEPLOY / "prometheus" / "prometheus.yml"
    rule_files = set()
    for pattern in prometheus_config()["rule_files"]:
        where = container_to_host(prom, pattern)
        assert where is not None, f"{pattern} is not under a mount"
        rule_files |= set(where.parent.glob(where.name))
    assert rule_files == set((DEPLOY / "prometheus" / "rules").glob("*.yml")) and rule_files
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    for job_name, svc, port_var in (("cxsla-worker", "worker", "CXSLA_METRICS_PORT"),
                                    ("cxsla-api", "api", "CXSLA_API_PORT")):
        (sd,) = jobs[job_name]["dns_sd_configs"]
        assert sd["names"] == [svc] and sd["port"] == int(environment(service(svc))[port_var]), job_name
        assert jobs[job_name].get("metrics_path", "/metrics") == "/metrics"
    # the job names the alert rules select
    rules_text = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "rules").glob("*.yml"))
    for job in re.findall(r'job="([^"]+)"', rules_text):
        assert job in jobs, job
    server = jobs["temporal-server"]["static_configs"][0]["targets"][0]
    assert server.split(":")[1] == environment(service("temporal"))["PROMETHEUS_ENDPOINT"].split(":")[1]


@pytest.mark.skipif(PROMTOOL is None,
                    reason="promtool not installed (make test installs Debian's prometheus package as root)")
def test_promtool_checks_the_prometheus_config(tmp_path):
    config = deepcopy(prometheus_config())
    prom = service("prometheus")
    config["rule_files"] = [str(container_to_host(prom, p)) for p in config["rule_files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rules = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
    assert f"SUCCESS: {len(rules)} rule files found" in output  # the rules themselves are parsed too


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus():
    grafana = service("grafana")
    provisioning = container_to_host(grafana, "/etc/grafana/provisioning")
    assert provisioning == DEPLOY / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "cxsla.yml").read_text())["providers"]
    dashboards = container_to_host(grafana, provider["options"]["path"])
    assert dashboards == DEPLOY / "grafana" / "dashboards" and (dashboards / "cxsla.json").is_file()
    home = container_to_host(grafana, environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == dashboards / "cxsla.json"
    (source,) = yaml.safe_load((provisioning / "datasources" / "cxsla.yml").read_text())["datasources"]
    host, port = source["url"].removeprefix("http://").split(":")
    assert host == "prometheus" and port == "9090" and _published(service("prometheus")).get(9090)
    dashboard = json.loads((dashboards / "cxsla.json").read_text())
    assert {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"} == {source["uid"]}
    assert source["jsonData"]["timeInterval"] == prometheus_config()["global"]["scrape_interval"]


# ---- Dockerfile -------------------------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile():
    steps = dockerfile_instructions()
    froms = [rest for kw, rest in steps if kw == "FROM"]
    assert froms and all(f.split()[0] == "python:3.11-slim" for f in froms)
    final = steps[max(i for i, (kw, _) in enumerate(steps) if kw == "FROM"):]
    (user,) = [rest for kw, rest in final if kw == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root user (runAsNonRoot can check it)"
    assert json.loads(next(rest for kw, rest in final if kw == "ENTRYPOINT")) == ["cxsla"]
    cmd = json.loads(next(rest for kw, rest in final if kw == "CMD"))
    assert cmd[0] in cxsla_commands()
    assert any(kw == "RUN" and re.search(r"pip install \.(\s|$)", rest) for kw, rest in steps)
    env_names = {m.group(1) for kw, rest in steps if kw == "ENV" for m in re.finditer(r"(\w+)=", rest)}
    assert {n for n in env_names if looks_like_a_setting(n)} <= settings_env_names()


def test_dockerfile_copies_every_package_pyproject_installs():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied = {source.rstrip("/") for kw, rest in dockerfile_instructions()
              if kw == "COPY" and not rest.startswith("--from") for source in rest.split()[:-1]}
    needed = {f"{module}.py" for module in project["py-modules"]} | {"pyproject.toml"}
    for pattern in project["packages"]["find"]["include"]:
        top = pattern.rstrip("*").rstrip(".")
        needed |= {p.name for p in ROOT.glob(top) if (p / "__init__.py").exists()}
    assert needed - copied == set(), "deploy/Dockerfile does not copy what `pip install .` packages"
    # and the Dockerfile-specific .dockerignore lets each of them through
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything else stays out of the build context
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert needed <= allowed


# ---- Kubernetes -------------------------------------------------------------------------------------------------
@cache
def k8s_documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def of_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


def test_every_manifest_is_valid_for_the_pinned_kubernetes_version():
    assert len(k8s_documents()) >= 12
    for _name, doc in k8s_documents():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    # strict validation does reject a misspelled field and a wrong type
    worker = deepcopy(of_kind("Deployment")["cxsla-worker"])
    worker["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"tcpSocket": {"port": 9464}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(worker, KUBERNETES_VERSION, strict=True)
    hpa = deepcopy(of_kind("HorizontalPodAutoscaler")["cxsla-worker"])
    hpa["spec"]["minReplicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_placeholder_secret():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files_ = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files_ - {"secret.yaml"}
    (namespace,) = of_kind("Namespace")
    assert kustomization["namespace"] == namespace
    for _, doc in k8s_documents():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, doc["metadata"]["name"]
    images = {c["image"].split(":")[0] for d in of_kind("Deployment").values()
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {image["name"] for image in kustomization["images"]}


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _port(container: dict, name_or_number) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name_or_number)


def test_k8s_settings_are_real_and_secrets_are_files_or_optional_references():
    config = of_kind("ConfigMap")["cxsla-config"]["data"]
    assert set(config) - settings_env_names() == set()
    commented = set(re.findall(r"^\s*#\s*([A-Z][A-Z0-9_]+):", (K8S / "configmap.yaml").read_text(), re.M))
    assert commented and commented - settings_env_names() == set()
    for literal in ("CXSLA_CODEC_KEYS", "CXSLA_API_TOKENS", "CXSLA_WEBHOOK_SECRET", "TEMPORAL_API_KEY"):
        assert literal not in config
    secret = of_kind("Secret")["cxsla-secrets"]["stringData"]
    documented_optional = set(re.findall(r"^\s*#\s*([a-z-]+): ", (K8S / "secret.yaml").read_text(), re.M))
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        assert container["envFrom"] == [{"configMapRef": {"name": "cxsla-config"}}], name
        for var in container.get("env", []):
            assert var["name"] in settings_env_names(), (name, var["name"])
            ref = var["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "cxsla-secrets" and ref["optional"] is True
            assert ref["key"] in documented_optional, (name, ref["key"])
        # the key files the ConfigMap names are mounted from the Secret
        secret_mounts = {m["mountPath"]: v for m in container["volumeMounts"] for v in pod["volumes"]
                         if v["name"] == m["name"] and "secret" in v}
        needs = ["CXSLA_CODEC_KEY_FILE"] + (["CXSLA_API_TOKENS_FILE"] if container["args"][0] != "worker" else [])
        for variable in needs:
            path = PurePosixPath(config[variable])
            volume = secret_mounts.get(str(path.parent))
            assert volume, f"{name}: nothing mounted at {path.parent}"
            assert volume["secret"]["secretName"] == "cxsla-secrets"
            item = next(i for i in volume["secret"]["items"] if i["path"] == path.name)
            assert item["key"] in secret, (name, item["key"])
    tls_paths = {v for k, v in re.findall(r"^\s*#\s*(TEMPORAL_TLS_\w+): (\S+)", (K8S / "configmap.yaml").read_text(),
                                          re.M) if v.startswith("/")}
    tls_keys = set(of_kind("Secret")["cxsla-temporal-tls"]["stringData"])
    assert {PurePosixPath(p).name for p in tls_paths} <= tls_keys
    for name in ("cxsla-worker", "cxsla-api"):
        mounts_ = {m["mountPath"] for m in _container(of_kind("Deployment")[name])["volumeMounts"]}
        assert {str(PurePosixPath(p).parent) for p in tls_paths} <= mounts_, name


def test_k8s_commands_probes_resources_and_security():
    config = of_kind("ConfigMap")["cxsla-config"]["data"]
    (user,) = [rest for kw, rest in dockerfile_instructions() if kw == "USER"]
    uid = int(user.split(":")[0])
    deployments = of_kind("Deployment")
    assert {_container(d)["args"][0] for d in deployments.values()} == set(CXSLA_SERVICES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        assert container["args"][0] in cxsla_commands(), name
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][kind].keys(), (name, kind)
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe in container, (name, probe)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    worker = _container(deployments["cxsla-worker"])
    metrics_port = int(config["CXSLA_METRICS_PORT"])
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = worker[probe]["httpGet"]
        assert get["path"] == "/metrics" and _port(worker, get["port"]) == metrics_port
    annotations = deployments["cxsla-worker"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and int(annotations["prometheus.io/port"]) == metrics_port
    grace = deployments["cxsla-worker"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= ACTIVITY_START_TO_CLOSE + 15

    api = _container(deployments["cxsla-api"])
    api_port = int(config["CXSLA_API_PORT"])
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {_port(api, api[p]["httpGet"]["port"]) for p in ("livenessProbe", "readinessProbe")} == {api_port}
    api_annotations = deployments["cxsla-api"]["spec"]["template"]["metadata"]["annotations"]
    assert int(api_annotations["prometheus.io/port"]) == api_port

    codec = _container(deployments["cxsla-codec-server"])
    assert _port(codec, codec["livenessProbe"]["tcpSocket"]["port"]) == int(config["CXSLA_CODEC_SERVER_PORT"])
    # the app really serves the probed paths
    from fastapi.routing import APIRoute

    from starter.api.health import router

    assert {"/healthz", "/readyz"} <= {route.path for route in router.routes if isinstance(route, APIRoute)}


def test_services_pdbs_and_the_hpa_select_real_pods():
    deployments = of_kind("Deployment")

    def pods_of(selector: dict) -> list[str]:
        return [name for name, d in deployments.items()
                if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]

    services = of_kind("Service")
    assert set(services) == {"cxsla-api", "cxsla-codec-server", "cxsla-archive-db"}
    database = services.pop("cxsla-archive-db")  # the archive's PostgreSQL, a StatefulSet
    (archive_db,) = of_kind("StatefulSet").values()
    assert database["spec"]["selector"].items() <= archive_db["spec"]["template"]["metadata"]["labels"].items()
    for svc in services.values():
        (target,) = pods_of(svc["spec"]["selector"])
        container = _container(deployments[target])
        for port in svc["spec"]["ports"]:
            _port(container, port["targetPort"])  # a named port that exists
    pdbs = of_kind("PodDisruptionBudget")
    assert {t for p in pdbs.values() for t in pods_of(p["spec"]["selector"]["matchLabels"])} == set(deployments)
    for pdb in pdbs.values():
        target = pods_of(pdb["spec"]["selector"]["matchLabels"])[0]
        assert pdb["spec"]["minAvailable"] < deployments[target]["spec"]["replicas"], "a drain must be possible"
    (hpa,) = of_kind("HorizontalPodAutoscaler").values()
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "cxsla-worker"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "cpu" in _container(deployments["cxsla-worker"])["resources"]["requests"]
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert "keda" in (K8S / "worker.yaml").read_text().lower()  # the backlog alternative is documented


def test_k8s_job_registers_exactly_the_search_attributes():
    (job,) = of_kind("Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:4] == ["temporal", "operator", "search-attribute", "create"]
    pairs = [f"{command[i + 1]}={command[i + 3]}" for i in range(4, len(command), 4)]
    assert all(command[i] == "--name" and command[i + 2] == "--type" for i in range(4, len(command), 4))
    assert pairs == search_attribute_pairs()


# ---- the init script against a real server ----------------------------------------------------------------------
async def test_init_script_creates_the_namespace_and_search_attributes_idempotently(dev_env):
    script = DEPLOY / "temporal" / "init-namespace.sh"
    namespace = f"deploy-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PATH": f"{Path(temporal_cli()).parent}:{os.environ['PATH']}",
           "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host, "TEMPORAL_NAMESPACE": namespace,
           "SEARCH_ATTRIBUTES": environment(service("temporal-init"))["SEARCH_ATTRIBUTES"], "INIT_TRIES": "15"}
    for run in (1, 2):
        result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"run {run}: {result.stdout}{result.stderr}"
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    for key in sa.ALL:
        assert listed.custom_attributes[key.name] == key.indexed_value_type, key.name
    # a conflicting registration fails loudly instead of passing silently
    clash = subprocess.run(["sh", str(script)], env={**env, "SEARCH_ATTRIBUTES": "CxContract=Bool", "INIT_TRIES": "1"},
                           capture_output=True, text=True, timeout=60)
    assert clash.returncode != 0
