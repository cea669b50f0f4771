#!/usr/bin/env python3
"""ai-service benchmark: what the platform adds to a challenge generation, with the model
endpoint (the local OpenAI-protocol fake, tests/support/openai_fake.py) answering at once.

    .venv/bin/python tools/bench/bench_agent.py [--seconds 10]

Rows, one run, same machine:
* ceiling — the fake called directly with the very request ai-service sends it (the rendered
  prompt and the structured-output schema), by wrk;
* ``POST /api/agent/challenges`` through ai-service (one uvicorn worker, a service token per
  request, cache off): the token check, limits, prompt, the SDK call, decoding, the checks;
* the same with the cache on (identical requests: a Redis GET);
* the deterministic fallback (no endpoint configured).
The difference between the first two rows is the platform's overhead per generation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

from benchlib import Stack, print_table, run_wrk, wrk_figures  # noqa: E402

from support.agent import CHALLENGES_PATH, SCOPE, challenge_draft, challenge_request  # noqa: E402
from support.openai_fake import OpenAIFake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    fake = OpenAIFake()
    fake.answer(challenge_draft())
    body = json.dumps(challenge_request())
    rows = []
    with Stack("agent") as stack:
        token = stack.issuer.token(
            "challenge-service", SCOPE, client_id="challenge-service", lifetime=3600
        )
        common = {
            "OPENAI_API_KEY": fake.api_key,
            "OPENAI_MODEL": "fake-model",
            "USER_RATE_PER_MINUTE": "0",
            "RATE_LIMIT_PER_MINUTE": "0",
        }
        agent = stack.service(
            "ai-service",
            "bench_agent",
            {**common, "OPENAI_BASE_URL": fake.url, "ANSWER_CACHE_SECONDS": "0"},
        )
        # What ai-service sends the model, captured once, is what the ceiling replays.
        run_wrk(agent.url, [token], "POST", CHALLENGES_PATH, body, 1, 1)
        sent = json.dumps(fake.requests[-1].body)
        auth = {"Authorization": f"Bearer {fake.api_key}"}
        for conns in (1, 4):
            direct = run_wrk(
                fake.url.removesuffix("/v1"),
                [],
                "POST",
                "/v1/chat/completions",
                sent,
                conns,
                args.seconds,
                headers=auth,
            )
            rows.append((f"fake endpoint directly (ceiling), c={conns}", wrk_figures(direct)))
            through = run_wrk(
                agent.url, [token], "POST", CHALLENGES_PATH, body, conns, args.seconds
            )
            rows.append((f"POST /api/agent/challenges, model, c={conns}", wrk_figures(through)))
        answered = {r.body["model"] for r in fake.requests}
        assert answered == {"fake-model"}, answered
        cached = stack.service("ai-service", "bench_agent", {**common, "OPENAI_BASE_URL": fake.url})
        hits = run_wrk(cached.url, [token], "POST", CHALLENGES_PATH, body, 4, args.seconds)
        rows.append(("POST /api/agent/challenges, cache hit, c=4", wrk_figures(hits)))
        offline = stack.service("ai-service", "bench_agent", {**common, "OPENAI_BASE_URL": ""})
        fallback = run_wrk(offline.url, [token], "POST", CHALLENGES_PATH, body, 4, args.seconds)
        rows.append(("POST /api/agent/challenges, fallback, c=4", wrk_figures(fallback)))
    fake.close()
    print_table("ai-service: challenge generation, the fake model answering at once", rows, 48)
    for conns in (1, 4):
        ceiling = dict(rows)[f"fake endpoint directly (ceiling), c={conns}"]
        through = dict(rows)[f"POST /api/agent/challenges, model, c={conns}"]
        print(
            f"overhead c={conns}: +{through['p50_ms'] - ceiling['p50_ms']:.2f} ms p50, "
            f"{through['req_s'] / ceiling['req_s']:.0%} of the ceiling's rate"
        )


if __name__ == "__main__":
    main()
