#!/usr/bin/env python3
"""CPU per request of the official Python SDK, for comparison with the bench's rows.

The same exchange as the bench's `client-aksk` push-event row: the official SDK
(`huaweicloudsdkcodeartsrepo`, AK/SK signing) asks for the last push event, one request at a
time on one kept-alive connection. Prints one JSON object shaped like a row of the bench's
`results`, with `cpu_us_per_request`: user + system CPU of this process over the measured
requests (after a warm-up), per request.

    pip install huaweicloudsdkcodeartsrepo
    python3 bench/python_sdk_cpu.py --endpoint http://127.0.0.1:18081
    python3 bench/python_sdk_cpu.py --endpoint https://127.0.0.1:18443 --ca-file /tmp/codearts-bench/ca.pem

Rounds are taken in turns and the median round (by requests per second) is reported, as the
bench does.
"""

import argparse
import json
import resource
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcodeartsrepo.v4 import (
    CodeArtsRepoClient,
    ShowLastPushEventInRepositoryRequest,
)

REPOSITORY = 2112036131
# The embedded server's demo keys; nginx does not check signatures.
AK = "DEMOAK00000000000001"
SK = "demo-secret-key-not-for-production"
PROJECT_ID = "3e1f6634946144c2b1ccb46fb8152b8f"


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(client, requests):
    request = ShowLastPushEventInRepositoryRequest(repository_id=REPOSITORY)
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(requests):
        response = client.show_last_push_event_in_repository(request)
        assert response.ref == "master", response
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {"rps": requests / wall, "cpu_us_per_request": cpu * 1e6 / requests}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--ca-file")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    config = HttpConfig.get_default_config()
    if args.ca_file:
        config.ssl_ca_cert = args.ca_file
    client = (
        CodeArtsRepoClient.new_builder()
        .with_credentials(BasicCredentials(AK, SK, PROJECT_ID))
        .with_endpoints([args.endpoint])
        .with_http_config(config)
        .build()
    )
    measure(client, max(args.requests // 10, 1))  # warm-up: connection, imports, caches
    rounds = sorted(
        (measure(client, args.requests) for _ in range(args.rounds)),
        key=lambda r: r["rps"],
    )
    median = rounds[len(rounds) // 2]
    print(
        json.dumps(
            {
                "operation": "push-event",
                "variant": "python-sdk-aksk",
                "concurrency": 1,
                "requests": args.requests,
                "rps": round(median["rps"], 1),
                "cpu_us_per_request": round(median["cpu_us_per_request"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
