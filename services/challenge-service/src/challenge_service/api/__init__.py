"""The service's controllers."""

from challenge_service.api.challenges import ChallengeController

ROUTES = [ChallengeController]
