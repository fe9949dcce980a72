#!/usr/bin/env python3
"""Compares conformance results: the upstream directly vs the same upstream through Portcullis.

Usage: compare.py EXPECTED_FAILURES WORKDIR LINE...
Each LINE has WORKDIR/LINE-direct and WORKDIR/LINE-gateway result folders. Prints the counts
and every difference; exits 1 when Portcullis fails a check the upstream passes that the
expected-failures file does not list.
"""

import json
import pathlib
import sys


def load(folder):
    """{(scenario, check id): status} from the suite's per-scenario checks.json files."""
    results = {}
    for checks in pathlib.Path(folder).glob("*/checks.json"):
        scenario = checks.parent.name
        scenario = scenario[len("server-"):] if scenario.startswith("server-") else scenario
        scenario = scenario.rsplit("-", 6)[0]  # drop the timestamp suffix
        for check in json.loads(checks.read_text()):
            if check.get("status") in ("SUCCESS", "FAILURE", "WARNING"):
                results[(scenario, check["id"])] = check["status"]
    return results


def expected(path):
    listed = {}
    for raw in pathlib.Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        suite, check, reason = line.split(None, 2)
        listed[(suite, check)] = reason
    return listed


def main():
    expected_path, work, *lines = sys.argv[1:]
    allowed = expected(expected_path)
    used = set()
    unexpected = []
    for line in lines:
        direct = load(f"{work}/{line}-direct")
        gateway = load(f"{work}/{line}-gateway")
        if not direct or not gateway:
            print(f"conformance {line}: no results (direct {len(direct)}, gateway {len(gateway)})")
            return 1
        direct_pass = {k for k, v in direct.items() if v == "SUCCESS"}
        gateway_pass = {k for k, v in gateway.items() if v == "SUCCESS"}
        print(
            f"conformance {line}: upstream directly passes {len(direct_pass)} of {len(direct)} checks; "
            f"through Portcullis {len(gateway_pass)} of {len(gateway)}"
        )
        for key in sorted(direct_pass - gateway_pass):
            scenario, check = key
            reason = allowed.get((line, check))
            if reason:
                used.add((line, check))
                print(f"  expected: {scenario}/{check}: {reason}")
            else:
                unexpected.append(f"{line} {scenario}/{check}: {gateway.get(key, 'MISSING')}")
        for key in sorted(gateway_pass - direct_pass):
            print(f"  Portcullis passes what the upstream does not: {key[0]}/{key[1]}")
    for key in sorted(set(allowed) - used):
        print(f"  stale expected failure (now passes, or not run): {key[0]} {key[1]}")
    if unexpected:
        print("Portcullis fails checks the upstream passes:")
        for u in unexpected:
            print(f"  {u}")
        return 1
    print("conformance: Portcullis passes every check the upstream passes, less the listed expected failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
