"""InfluxDB 2.x through influxdb-client's async client. Queries are Flux with ``params``;
never format user input into a query string."""

from __future__ import annotations

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from deepiri_kit.settings import InfluxSettings


def open_influx(settings: InfluxSettings) -> InfluxDBClientAsync:
    # Must be created inside the running event loop (it owns an aiohttp session).
    return InfluxDBClientAsync(
        url=settings.influxdb_url,
        token=settings.influxdb_token,
        org=settings.influxdb_org,
        timeout=round(settings.influxdb_timeout_seconds * 1000),
    )


__all__ = ["open_influx"]
