"""Verify exported AAS v3.0 JSON environments with the reference SDKs.

For every file given: aas-core3.0 must deserialise it and report no
verification error, and basyx-python-sdk must read it back with the same
number of shells, submodels and concept descriptions. Exit status 1 if any
file fails.
"""

import json
import sys

import aas_core3.jsonization as jsonization
import aas_core3.verification as verification
from basyx.aas.adapter.json import read_aas_json_file


def check(path: str) -> list:
    problems = []
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        env = jsonization.environment_from_jsonable(data)
    except jsonization.DeserializationException as e:
        return [f"aas-core3.0 cannot deserialise: {e.path}: {e.cause}"]
    for err in verification.verify(env):
        problems.append(f"aas-core3.0: {err.path}: {err.cause}")
    want = (
        len(data.get("assetAdministrationShells", [])),
        len(data.get("submodels", [])),
        len(data.get("conceptDescriptions", [])),
    )
    try:
        with open(path, encoding="utf-8") as f:
            store = read_aas_json_file(f, failsafe=False)
    except Exception as e:  # basyx raises many types; any of them is a failure here
        return problems + [f"basyx-python-sdk cannot read: {type(e).__name__}: {e}"]
    from basyx.aas import model

    got = (
        sum(1 for o in store if isinstance(o, model.AssetAdministrationShell)),
        sum(1 for o in store if isinstance(o, model.Submodel)),
        sum(1 for o in store if isinstance(o, model.ConceptDescription)),
    )
    if got != want:
        problems.append(f"basyx-python-sdk read {got} (shells, submodels, CDs), file has {want}")
    return problems


def main() -> int:
    failed = 0
    for path in sys.argv[1:]:
        problems = check(path)
        if problems:
            failed += 1
            print(f"FAIL {path}")
            for p in problems[:20]:
                print(f"  {p}")
        else:
            print(f"ok   {path}")
    print(f"{len(sys.argv) - 1 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
