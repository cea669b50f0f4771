"""The service's typed environment. The mixins decide which clients the kit opens and what
readiness checks; they must match the chart's ``datastores`` for this service."""

from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import MongoSettings, RedisSettings, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class NotificationSettings(ServiceSettings, MongoSettings, RedisSettings):
    service_name: str = "notification-service"
    port: int = 5005
    mongo_db: str = "deepiri_notification"
    # The Redis pub/sub channel of the Socket.IO manager: websocket-service listens on the
    # same one (its SOCKET_CHANNEL) and delivers what is emitted to the user's room.
    socket_channel: str = "socketio"
    # How long the consumer's read blocks for new events.
    consumer_block_ms: int = 1000
    # The SMTP relay for account mail. Empty host: mail waits (never dropped) until one is set.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    # Not a Secret: a relay inside the cluster may need no credentials at all.
    smtp_password: str = ""
    # "starttls" (submission, 587), "tls" (implicit TLS, 465) or "none" (a local relay).
    smtp_security: str = "starttls"
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "Deepiri <no-reply@deepiri.dev>"
    # Push through FCM HTTP v1: the Firebase project and a service-account key file (JSON);
    # empty: no FCM. FCM_ENDPOINT is Google's unless a test points it at a local fake.
    fcm_project_id: str = ""
    fcm_key_file: str = ""
    fcm_endpoint: str = "https://fcm.googleapis.com"
    # A PEM bundle of the CAs to trust for FCM and its token endpoint instead of the public
    # ones (empty in production); tests point it at their own CA.
    fcm_ca_file: str = ""
    # Push through APNs: the team, the key's id and its .p8 file (ES256), the app's bundle id;
    # empty: no APNs. Development devices use https://api.sandbox.push.apple.com.
    apns_team_id: str = ""
    apns_key_id: str = ""
    apns_key_file: str = ""
    apns_topic: str = ""
    apns_endpoint: str = "https://api.push.apple.com"
    # A PEM bundle of the CAs to trust for APNs instead of the system's (empty: the system
    # store, which trusts Apple's real endpoints); tests point it at their own CA.
    apns_ca_file: str = ""
    # At most this many push notifications per user per rolling hour; the rest stay in the
    # inbox (and in-app) without buzzing the phone again.
    push_per_user_per_hour: int = 20
    # Deliveries that failed (or were held for quiet hours) are retried by a sweep every
    # DELIVERY_INTERVAL_SECONDS; fresh ones are left to the consumer that made them for
    # DELIVERY_MIN_AGE_SECONDS. Waits between failed attempts: 2 s doubling up to the limit.
    delivery_interval_seconds: float = 2.0
    delivery_min_age_seconds: float = 5.0
    delivery_retry_first_seconds: float = 2.0
    delivery_retry_limit_seconds: float = 300.0
    # How often each replica looks for daily digests that are due (each is sent once).
    digest_interval_seconds: float = 60.0
