"""docker-compose.yml cannot be started here (no Docker engine); check what can be checked:
the compose-spec schema (vendored in tests/data, from the PyPI wheel check-jsonschema 0.39.0,
Apache-2.0: tests/data/LICENSE.compose-spec), secrets, healthchecks, restarts, users."""

import json
import re
from dataclasses import fields
from pathlib import Path

import jsonschema
import pytest
import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_compose_has_the_deployment_services_and_known_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "mlflow", "worker", "api", "dashboard"} <= set(services)
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    known = {f"FLOWLET_{f.name.upper()}" for f in fields(Settings)}
    for name, service in services.items():
        env = service.get("environment") or {}
        for key in env:
            if key.startswith("FLOWLET_"):
                assert key in known, f"{name}: {key} is not a Settings field"
    env = services["worker"]["environment"]
    assert env["FLOWLET_DATABASE_URL"].startswith("postgresql")
    assert env["FLOWLET_PRODUCER_IDEMPOTENCE"] == "true"  # real Kafka supports it


def test_readme_starts_with_the_two_commands_that_ci_runs():
    head = (ROOT / "README.md").read_text().splitlines()[:12]
    assert any("make up" in line for line in head)
    assert any("make test" in line for line in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_image_builds_the_scoring_kernel_and_copies_every_package():
    """``pip install .`` in the image needs setup.py (the scorer's C kernel) and a compiler;
    local builds stay out of the context; every package the install finds is copied."""
    import tomllib

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "setup.py" in dockerfile and "gcc" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/*.so" in ignored
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in
                pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert set(packages) <= copied, set(packages) - copied


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _compose_errors(compose: dict) -> list[str]:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(compose)]


def test_compose_file_follows_the_compose_spec():
    assert _compose_errors(_compose()) == []


@pytest.mark.parametrize("breakage", [
    lambda c: c["services"]["api"].update(helthcheck={"test": ["CMD", "true"]}),
    lambda c: c["services"]["worker"].update(restart=["always"]),
    lambda c: c["services"]["mlflow"]["healthcheck"].update(interval=10),
])
def test_the_compose_schema_check_catches_mistakes(breakage):
    compose = _compose()
    breakage(compose)
    assert _compose_errors(compose)


def test_every_service_has_a_healthcheck_and_a_restart_policy():
    for name, service in _compose()["services"].items():
        if service.get("profiles"):  # one-shot, asked for (the demo's model bootstrap)
            assert service.get("restart") == "no", name
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name


def test_no_inline_secret_and_every_variable_is_in_the_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = _compose()
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")
    for url in re.findall(r"postgresql\+psycopg://[^\s\"]+", text):
        password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert password.startswith("${"), url  # from .env, never written here
    example = (ROOT / ".env.example").read_text()
    declared = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert used <= declared, used - declared
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_no_simulated_training_unless_asked():
    services = _compose()["services"]
    assert services["bootstrap-model"]["profiles"] == ["demo"]
    for name, service in services.items():
        assert "bootstrap-model" not in (service.get("depends_on") or {}), name


def test_containers_do_not_run_as_root():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [i for i, line in enumerate(lines) if line.startswith("USER ")]
    assert users and lines[users[-1]].split()[1] not in ("root", "0")
    entry = next(i for i, line in enumerate(lines) if line.startswith("ENTRYPOINT"))
    assert users[-1] < entry
    for name, service in _compose()["services"].items():
        assert str(service.get("user", "")).split(":")[0] not in ("root", "0"), name
