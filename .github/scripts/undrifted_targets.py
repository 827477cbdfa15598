"""Print `--target=SHOP/KIND/NAME` for each change of a plan (`reconciler plan --json`) that is not
drift (`reconciler drift --json`): what git or time changed, leaving alone what a person changed
outside git. Used by the reconcile workflow.

Usage: undrifted_targets.py PLAN_JSON DRIFT_JSON
"""

from __future__ import annotations

import json
import sys


def undrifted_targets(plan: dict, drift: dict) -> list[str]:
    drifted = {entry["address"] for entry in drift["drift"]}
    addresses = [f"{c['shop']}/{c['kind']}/{c['name']}" for c in plan["changes"]]
    return [f"--target={address}" for address in dict.fromkeys(addresses) if address not in drifted]


def main(plan_path: str, drift_path: str) -> None:
    with open(plan_path, encoding="utf-8") as plan, open(drift_path, encoding="utf-8") as drift:
        for target in undrifted_targets(json.load(plan), json.load(drift)):
            print(target)


if __name__ == "__main__":
    main(*sys.argv[1:3])
