from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import MongoSettings, RedisSettings, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class TaskSettings(ServiceSettings, MongoSettings, RedisSettings):
    service_name: str = "task-service"
    port: int = 5002
    mongo_db: str = "deepiri_tasks"
    # The event consumer's blocking read (user.deleted); tests shorten it.
    consumer_block_ms: int = 1000
