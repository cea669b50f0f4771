"""Where challenge-service fetches its agent:invoke token: user-service inside the cluster
(the base of JWKS_URL), not the public issuer — the pod's NetworkPolicy admits egress to
user-service's pods only, so the public URL's token endpoint was refused on the real cluster
(tests/e2e/test_5_network_policy.py) and every generation answered 503."""

from __future__ import annotations

import pytest

from challenge_service.settings import ChallengeSettings
from deepiri_kit import load_settings

pytestmark = pytest.mark.unit
PUBLIC = "https://deepiri.example.com/api/users"
INSIDE = "http://user-service:5001/api/users"


def test_the_token_comes_from_user_service_inside_the_cluster_not_the_public_issuer() -> None:
    env = {"JWT_ISSUER": PUBLIC, "JWKS_URL": f"{INSIDE}/oauth/jwks"}
    settings = load_settings(ChallengeSettings, env)
    assert settings.agent_token_url == f"{INSIDE}/oauth/token"
    chosen = load_settings(ChallengeSettings, {**env, "TOKEN_URL": f"{PUBLIC}/oauth/token"})
    assert chosen.agent_token_url == f"{PUBLIC}/oauth/token"
