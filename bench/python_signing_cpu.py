#!/usr/bin/env python3
"""CPU per request of each signing algorithm in the official Python core, beside
`signing_bench`'s rows: the same commits request signed `--requests` times with each of
huaweicloudsdkcore's four signers, in turns, `--rounds` times; the median round is reported.

The official core derives the ECDSA/SM2 key from the AK/SK again for every request (and its
curve arithmetic is pure Python), as its client does.

    python3 -m venv /tmp/hcvenv && /tmp/hcvenv/bin/pip install huaweicloudsdkcore==3.1.219
    taskset -c 1 /tmp/hcvenv/bin/python bench/python_signing_cpu.py --rounds 5
"""

import argparse
import resource

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import (P256SHA256Signer, SM2SM3Signer, SM3Signer,
                                              Signer)

AK = "DEMOAK00000000000001"
SK = "demo-secret-key-not-for-production"
SIGNERS = [("SDK-HMAC-SHA256", Signer), ("SDK-HMAC-SM3", SM3Signer),
           ("SDK-ECDSA-P256-SHA256", P256SHA256Signer), ("SDK-SM2-SM3", SM2SM3Signer)]


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def request():
    return SdkRequest(
        method="GET", schema="https", host="servicestage.cn-north-4.myhuaweicloud.com",
        resource_path="/v1/3e1f6634946144c2b1ccb46fb8152b8f/git/repos/my-group/my-repo/commits",
        query_params=[("ref", "master")],
        header_params={"Content-Type": "application/json;charset=utf8",
                       "X-Sdk-Date": "20251203T073000Z",
                       "X-Project-Id": "3e1f6634946144c2b1ccb46fb8152b8f",
                       "X-Repo-Auth": "repo-auth-token", "User-Agent": "huaweicloud-usdk-python/3.0"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    credentials = BasicCredentials(AK, SK)
    rounds = {name: [] for name, _ in SIGNERS}
    for _ in range(args.rounds):
        for name, signer_class in SIGNERS:
            start = cpu_seconds()
            for _ in range(args.requests):
                # A signer per request, as BasicCredentials.sign_request makes one.
                signer_class(credentials).sign(request())
            rounds[name].append((cpu_seconds() - start) * 1e6 / args.requests)
    print(f"| algorithm | CPU µs per request (median of {args.rounds} rounds) |")
    print("| --- | --- |")
    for name, values in rounds.items():
        print(f"| {name} | {sorted(values)[len(values) // 2]:.1f} |")


if __name__ == "__main__":
    main()
