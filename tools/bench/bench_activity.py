#!/usr/bin/env python3
"""Activity time-series benchmark: the year's contribution calendar of one person with a
year of activity, against the raw Flux query behind it sent straight to InfluxDB — the
ceiling — in the same run, on the same servers; and the recorder's throughput.

    .venv/bin/python tools/bench/bench_activity.py [--per-day 20] [--others 50]
        [--seconds 10] [--conns 8] [--events 5000]

Starts its own Redis, FerretDB and InfluxDB and a local token issuer, runs user-service as a
real process with one uvicorn worker (benchlib.Stack), writes a year of points for one
person (``--per-day`` on average, a random count each day, random times) and as many for
``--others`` other people, and measures with wrk:

* ``GET /api/users/activity/calendar?tz=Europe/Paris`` (53 weeks of local days, shades) as
  that person, real RS256 tokens;
* ``POST /api/v2/query`` with the very Flux text and parameters the service sends (its
  ``store.activity.QUARTER_HOURS``, the parameters as influxdb-client encodes them) — what
  InfluxDB alone can answer;
* the recorder: ``--events`` activity events appended to ``events.tasks`` at once, timed
  until its consumer group has nothing pending or undelivered; then checked (each counted).

Load generator and servers share this machine's cores, so the figures compare rows of the
same run, not absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

from benchlib import Stack, print_table, run_wrk, wrk_figures  # noqa: E402
from influxdb_client import InfluxDBClient, Point  # noqa: E402
from influxdb_client.client.write_api import SYNCHRONOUS  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from deepiri_kit.events import EventBus  # noqa: E402
from support.users import task_completed  # noqa: E402
from user_service.domain.activity import local_span, local_today, point_time_ns  # noqa: E402
from user_service.store.activity import QUARTER_HOURS, quarter_hour_params  # noqa: E402

PERSON = "bench-person"
ZONE = "Europe/Paris"
GROUP = "user-service-activity"


def a_year(client: InfluxDBClient, bucket: str, org: str, per_day: int, others: int) -> int:
    """A year of points for PERSON and each other person; returns PERSON's count."""
    rng = random.Random(11)  # noqa: S311 - reproducible data
    writer = client.write_api(write_options=SYNCHRONOUS)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    mine = 0
    for who in [PERSON, *(f"bench-other-{i}" for i in range(others))]:
        points = []
        for day in range(371):
            for n in range(rng.randint(0, 2 * per_day)):
                at = today - timedelta(days=day) + timedelta(seconds=rng.randrange(86_400))
                kind = rng.choice(["task.completed", "task.created", "skill.leveled"])
                points.append(
                    Point("activity")
                    .tag("user", who)
                    .tag("kind", kind)
                    .field("n", 1)
                    .time(point_time_ns(at, f"{who}:{day}:{n}"), "ns")
                )
        writer.write(bucket=bucket, org=org, record=points)
        if who == PERSON:
            mine = len(points)
    return mine


def query_body(client: InfluxDBClient, bucket: str) -> str:
    """The JSON the service's query sends: the Flux text and its ``extern`` parameters."""
    zone = ZoneInfo(ZONE)
    last = local_today(datetime.now(UTC), zone)
    start, stop = local_span(last - timedelta(days=370), last, zone)
    query_api = client.query_api()
    params = quarter_hour_params(bucket, PERSON, start, stop)
    query = query_api._create_query(QUARTER_HOURS, params=params)
    return json.dumps(client.api_client.sanitize_for_serialization(query))


async def recorder_throughput(redis_port: int, events: int) -> tuple[float, int]:
    """Seconds until ``events`` task.completed events are all recorded; pending at the end."""
    redis = Redis(port=redis_port, decode_responses=True)
    bus = EventBus(redis)
    user = "bench-recorded"
    batch = [task_completed(user, task_id=f"t{i}", event_id=f"rec-{i}") for i in range(events)]
    started = time.perf_counter()
    for event in batch:
        await bus.publish("events.tasks", event)
    while True:
        groups = {g["name"]: g for g in await redis.xinfo_groups("events.tasks")}
        group = groups.get(GROUP)
        if group and not group["pending"] and not group["lag"]:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await redis.aclose()
    return elapsed, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", type=int, default=20)
    parser.add_argument("--others", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()

    with Stack("activity") as stack:
        env = stack.influx.env()
        service = stack.service("user-service", "bench_activity", env)
        influx = InfluxDBClient(
            url=env["INFLUXDB_URL"], token=env["INFLUXDB_TOKEN"], org=env["INFLUXDB_ORG"]
        )
        started = time.perf_counter()
        mine = a_year(
            influx, env["INFLUXDB_BUCKET"], env["INFLUXDB_ORG"], args.per_day, args.others
        )
        print(
            f"wrote a year: {mine} points for the person, about {mine * (args.others + 1)} in all "
            f"({time.perf_counter() - started:.1f}s)"
        )
        token = stack.issuer.token(PERSON, "users:read", lifetime=3600)
        path = f"/api/users/activity/calendar?tz={ZONE}"
        with service.client({"Authorization": f"Bearer {token}"}) as client:
            check = client.get(path).json()
        # Days at the range's ends are partial in the written data; the year's points are in.
        assert mine * 0.95 <= check["total"] <= mine, (check["total"], mine)
        assert len(check["days"]) == 371

        body = query_body(influx, env["INFLUXDB_BUCKET"])
        rows: list[tuple[str, dict[str, float]]] = []
        ceiling = run_wrk(
            env["INFLUXDB_URL"],
            [],
            "POST",
            f"/api/v2/query?org={env['INFLUXDB_ORG']}",
            body,
            args.conns,
            args.seconds,
            headers={
                "Authorization": f"Token {env['INFLUXDB_TOKEN']}",
                "Accept": "application/csv",
            },
        )
        rows.append(("raw Flux query → InfluxDB (ceiling)", wrk_figures(ceiling)))
        api = run_wrk(service.url, [token], "GET", path, None, args.conns, args.seconds)
        rows.append(("GET /activity/calendar (53 weeks, Paris)", wrk_figures(api)))
        print_table(
            f"calendar over a year ({mine} points for the person, {args.conns} connections)", rows
        )

        elapsed, events = asyncio.run(recorder_throughput(stack.redis.port, args.events))
        reader = stack.issuer.token("bench-recorded", "users:read")
        with service.client({"Authorization": f"Bearer {reader}"}) as client:
            recorded = client.get("/api/users/activity/calendar", params={"tz": "UTC"}).json()
        recorded = recorded["total"]
        assert recorded == events, (recorded, events)
        print(
            f"\nrecorder: {events} task.completed events on the bus → InfluxDB in {elapsed:.2f}s "
            f"= {events / elapsed:.0f} events/s (each counted once: {recorded})"
        )
        influx.close()


if __name__ == "__main__":
    main()
