"""``make dev`` (tools/dev.py) signs everyone in with the real user-service: every service,
configured exactly as the dev loop configures it, trusts user-service's own issuer and JWKS,
and that issuer is where ``deepiri login`` goes by default, with the first-party clients the
CLI and the web app use seeded."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

import dev
from deepiri_cli.main import CLIENT_ID, DEFAULT_ISSUER, DEFAULT_SCOPE
from deepiri_kit import ServiceSettings, load_settings
from known_services import Service, services

pytestmark = pytest.mark.unit
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


def settings_of(service: Service) -> Any:
    """The service's settings as the dev loop's environment makes them."""
    module = importlib.import_module(f"{service.module}.settings")
    (cls,) = {
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value.__module__ == module.__name__
    }
    return load_settings(cls, dev.environment())


def test_user_service_is_the_issuer_of_its_own_dev_url() -> None:
    users = settings_of(Service("user-service"))
    assert dev.issuer() == f"http://127.0.0.1:{users.port}/api/users"
    assert users.jwt_issuer == dev.issuer()
    assert users.deepiri_env == "development"


@pytest.mark.parametrize("service", services(), ids=lambda s: s.name)
def test_every_service_trusts_user_services_keys(service: Service) -> None:
    settings = settings_of(service)
    assert settings.jwt_issuer == dev.issuer()
    assert settings.jwks_url == f"{dev.issuer()}/oauth/jwks"


def test_the_first_party_clients_are_seeded_for_the_cli_and_the_web_app() -> None:
    clients = {
        c["client_id"]: c for c in json.loads(settings_of(Service("user-service")).oauth_clients)
    }
    cli = clients[CLIENT_ID]
    assert cli["first_party"]
    assert DEVICE_CODE in cli["grant_types"]
    assert "refresh_token" in cli["grant_types"]
    assert set(DEFAULT_SCOPE.split()) <= set(cli["scope"].split())  # deepiri login's default
    web = clients["deepiri-web"]
    assert web["first_party"]
    assert all(
        uri.startswith(("http://localhost:", "http://127.0.0.1:")) for uri in web["redirect_uris"]
    )


def test_deepiri_login_goes_to_the_dev_issuer_by_default() -> None:
    assert dev.issuer() == DEFAULT_ISSUER
