"""Activity points in InfluxDB 2 (influxdb-client's async API).

Every query is a constant Flux text; what varies (bucket, person, times) travels as
``params=``. InfluxDB OSS has no ``params.x`` record (a Cloud feature): influxdb-client
binds each parameter as an ``option`` of the query's ``extern`` AST, so the Flux names them
as bare identifiers (``_user``). Either way a value is a literal in the AST, never parsed
as Flux, so ``") |> drop(...)`` in a user id is just a user id nobody has.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write.point import Point
from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules
from influxdb_client.domain.dialect import Dialect
from influxdb_client.domain.patch_bucket_request import PatchBucketRequest
from influxdb_client.domain.patch_retention_rule import PatchRetentionRule
from influxdb_client.domain.post_bucket_request import PostBucketRequest
from influxdb_client.service.buckets_service import BucketsService
from influxdb_client.service.organizations_service import OrganizationsService

from user_service.domain.activity import (
    EPOCH,
    FIELD,
    LATEST,
    MEASUREMENT,
    ActivityPoint,
    erase_predicate,
)

log = logging.getLogger("user_service.activity")
# influxdb-client's generated API and models are untyped.
_Point: Any = Point
_Orgs: Any = OrganizationsService
_Buckets: Any = BucketsService
_NewBucket: Any = PostBucketRequest
_BucketChange: Any = PatchBucketRequest
_NewRule: Any = BucketRetentionRules
_RuleChange: Any = PatchRetentionRule
_Dialect: Any = Dialect
# CSV without annotation rows: one header per table, then its rows.
_PLAIN_CSV = _Dialect(header=True, delimiter=",", annotations=[], date_time_format="RFC3339")

# One person's activity per quarter hour (UTC windows, summed over kinds); the domain puts
# each quarter into its local day.
QUARTER_HOURS: Final = """
from(bucket: _bucket)
  |> range(start: _start, stop: _stop)
  |> filter(fn: (r) => r._measurement == _measurement and r._field == _field and r.user == _user)
  |> group()
  |> aggregateWindow(every: 15m, fn: sum, createEmpty: false, timeSrc: "_start")
  |> keep(columns: ["_time", "_value"])
"""


def quarter_hour_params(
    bucket: str, user_id: str, start: datetime, stop: datetime
) -> dict[str, Any]:
    """:data:`QUARTER_HOURS`'s parameters."""
    return {
        "_bucket": bucket,
        "_measurement": MEASUREMENT,
        "_field": FIELD,
        "_user": user_id,
        "_start": start,
        "_stop": stop,
    }


def parse_sums(text: str) -> list[tuple[datetime, int]]:
    """``(_time, _value)`` of each row of a CSV answer (header rows, one per table, named)."""
    sums: list[tuple[datetime, int]] = []
    columns: dict[str, int] = {}
    for row in csv.reader(io.StringIO(text)):
        if not row or not any(row):
            columns = {}  # a blank line ends a table
            continue
        if not columns:
            columns = {name: i for i, name in enumerate(row)}
            continue
        sums.append(
            (
                datetime.fromisoformat(row[columns["_time"]]),
                int(row[columns["_value"]]),
            )
        )
    return sums


class ActivityStore:
    def __init__(self, client: InfluxDBClientAsync, *, org: str, bucket: str) -> None:
        self.client = client
        self.org = org
        self.bucket = bucket

    async def write(self, points: Sequence[ActivityPoint]) -> None:
        """One request for the whole batch; raises if InfluxDB did not take it. A point
        written again (same person, kind and time) replaces itself."""
        if not points:
            return
        records = [
            _Point(MEASUREMENT)
            .tag("user", p.user_id)
            .tag("kind", p.kind)
            .field(FIELD, 1)
            .time(p.time_ns, "ns")
            for p in points
        ]
        await self.client.write_api().write(bucket=self.bucket, org=self.org, record=records)

    async def quarter_hours(
        self, user_id: str, start: datetime, stop: datetime
    ) -> list[tuple[datetime, int]]:
        """(UTC quarter-hour start, points in it) for ``user_id`` in [start, stop), only the
        quarters with activity. Read as plain CSV: a year can be thousands of rows, and the
        client's record objects cost more than the query."""
        text = await self.client.query_api().query_raw(
            QUARTER_HOURS,
            org=self.org,
            dialect=_PLAIN_CSV,
            params=quarter_hour_params(self.bucket, user_id, start, stop),
        )
        return parse_sums(text)

    async def erase(self, user_id: str) -> None:
        """Delete every activity point of ``user_id`` (the delete API takes a predicate text:
        the domain refuses ids that could break out of its quotes)."""
        await self.client.delete_api().delete(
            EPOCH, LATEST, erase_predicate(user_id), bucket=self.bucket, org=self.org
        )

    async def ensure_retention(self, seconds: int) -> None:
        """The bucket exists and keeps points ``seconds`` long (0 = forever): created or
        changed to match the setting."""
        orgs = await _Orgs(self.client.api_client).get_orgs_async(org=self.org)
        if not orgs.orgs:
            raise LookupError(f"InfluxDB has no organization {self.org!r}")
        org_id = orgs.orgs[0].id
        buckets_api = _Buckets(self.client.api_client)
        found = await buckets_api.get_buckets_async(name=self.bucket, org_id=org_id)
        if not found.buckets:
            await buckets_api.post_buckets_async(
                _NewBucket(
                    org_id=org_id,
                    name=self.bucket,
                    retention_rules=[_NewRule(type="expire", every_seconds=seconds)],
                )
            )
            log.info("created bucket %s (retention %ss)", self.bucket, seconds)
            return
        bucket = found.buckets[0]
        current = [r.every_seconds for r in bucket.retention_rules or []]
        if current != [seconds] and not (seconds == 0 and current in ([], [0])):
            await buckets_api.patch_buckets_id_async(
                bucket.id,
                _BucketChange(retention_rules=[_RuleChange(type="expire", every_seconds=seconds)]),
            )
            log.info("bucket %s retention %s -> %ss", self.bucket, current, seconds)
