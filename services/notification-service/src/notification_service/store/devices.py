"""Devices registered for push, in MongoDB (``_id`` = the token's id)."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from deepiri_kit.data.mongo import ensure_indexes
from notification_service.domain.devices import Device

Document = dict[str, Any]
INDEXES = [IndexModel([("user_id", 1)], name="user")]


def as_device(doc: Document) -> Device:
    return Device(
        id=doc["_id"],
        user_id=doc["user_id"],
        provider=doc["provider"],
        platform=doc["platform"],
        token=doc["token"],
        app_version=doc["app_version"],
        registered_at=doc["registered_at"],
    )


class DeviceStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.devices = db["devices"]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.devices, INDEXES)

    async def register(self, device: Device) -> None:
        """Whole-document replace: a token registered again (another app version, or another
        user signing in on the phone) belongs to the latest registration only."""
        await self.devices.replace_one(
            {"_id": device.id},
            {
                "_id": device.id,
                "user_id": device.user_id,
                "provider": device.provider,
                "platform": device.platform,
                "token": device.token,
                "app_version": device.app_version,
                "registered_at": device.registered_at,
            },
            upsert=True,
        )

    async def of(self, user_id: str) -> list[Device]:
        docs = await self.devices.find({"user_id": user_id}).sort("registered_at", 1).to_list()
        return [as_device(d) for d in docs]

    async def remove(self, user_id: str, device: str) -> bool:
        result = await self.devices.delete_one({"_id": device, "user_id": user_id})
        return result.deleted_count == 1

    async def forget(self, device: str) -> None:
        """The provider said the token is dead (FCM UNREGISTERED, APNs 410)."""
        await self.devices.delete_one({"_id": device})

    async def erase(self, user_id: str) -> None:
        await self.devices.delete_many({"user_id": user_id})
