#!/usr/bin/env bash
# ISBT 128 DIN check characters (ISO 7064 mod 37-2) computed by crates/batch agree with an
# independent implementation, python-stdnum's stdnum.iso7064.mod_37_2, on 2000 DINs that
# cover every facility letter; and the reference example of interop-notes.md gives `9`.
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only (python-stdnum). < 1 min
# after the build.
set -euo pipefail
cd "$(dirname "$0")/../.."

STDNUM_VERSION=2.2
VENV="${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/stdnum"
if ! "$VENV/bin/python" -c "import stdnum, sys; sys.exit(stdnum.__version__ != '$STDNUM_VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check "python-stdnum==$STDNUM_VERSION"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cargo run --quiet --locked -p batch --example din_checks -- 2000 > "$WORK/ours.txt"
"$VENV/bin/python" - "$WORK/ours.txt" <<'PY'
import sys
from stdnum.iso7064 import mod_37_2

lines = open(sys.argv[1]).read().split("\n")
rows = [line.split(" ") for line in lines if line]
if len(rows) != 2000:
    sys.exit(f"expected 2000 DINs, got {len(rows)}")
bad = [(din, ours, mod_37_2.calc_check_digit(din)) for din, ours in rows
       if mod_37_2.calc_check_digit(din) != ours]
for din, ours, theirs in bad[:10]:
    print(f"{din}: atmpflow {ours}, python-stdnum {theirs}", file=sys.stderr)
if bad:
    sys.exit(f"{len(bad)} of {len(rows)} check characters differ")
if mod_37_2.calc_check_digit("A999925123456") != "9":
    sys.exit("python-stdnum disagrees with the reference example A999925123456 -> 9")
if not all(mod_37_2.is_valid(din + ours) for din, ours in rows):
    sys.exit("python-stdnum rejects a DIN with our check character")
print(f"batch DIN: {len(rows)} check characters agree with python-stdnum {mod_37_2.__name__}")
PY
echo "batch DIN: ok"
