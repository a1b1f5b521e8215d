#!/usr/bin/env bash
# The HTML reports as a browser gets them: `atmpflow simulate` and `atmpflow compare` on the
# shipped example and `atmpflow study` on the concepts study, then every page is parsed by
# html5lib in strict mode (any HTML5 parse error fails) and checked to be self-contained (no
# URL, no external resource, no script — except the study report's one inline script that
# sorts and filters its point table).
# Needs: python3 with venv (Debian: python3-venv). Network: PyPI only (html5lib). < 1 min
# after the release build.
set -euo pipefail
cd "$(dirname "$0")/../.."

HTML5LIB_VERSION=1.1
. scripts/lib/venv.sh
pinned_venv report html5lib "$HTML5LIB_VERSION"

cargo build --release --locked -p atmpflow
BIN="${CARGO_TARGET_DIR:-target}/release/atmpflow"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

timeout 300 "$BIN" simulate examples/concept-1-all-in-one.toml --replications 5 --quiet --out "$WORK/sim"
timeout 300 "$BIN" compare examples/concept-1-all-in-one.toml examples/concept-1-all-in-one.toml \
    --replications 3 --quiet --out "$WORK/cmp" > /dev/null
timeout 300 "$BIN" study examples/studies/concepts-by-demand.toml --replications 2 --quiet \
    --out "$WORK/study" > /dev/null

"$VENV/bin/python" - "$WORK/sim/report.html" "$WORK/cmp/compare.html" "$WORK/study/study.html" <<'PY'
import re, sys
import html5lib

for path in sys.argv[1:]:
    data = open(path, "rb").read()
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        doc = parser.parse(data)
    except html5lib.html5parser.ParseError as e:
        sys.exit(f"{path}: HTML5 parse error: {e}")
    text = data.decode("utf-8")
    if path.endswith("study.html"):
        # The one inline script of the study report (sorting and filtering its point table).
        if text.count("<script") != 1 or "<script>" not in text:
            sys.exit(f"{path}: expected exactly one inline script")
        text = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    for bad in ("<script", "http://", "https://", "<link", "<img", "<iframe", "@import", "url("):
        if bad in text:
            sys.exit(f"{path}: not self-contained, contains {bad!r}")
    # Inline SVG lands in the SVG namespace: match the local name.
    svgs = [e for e in doc.iter() if isinstance(e.tag, str) and e.tag.rsplit("}", 1)[-1] == "svg"]
    if not svgs:
        sys.exit(f"{path}: no chart")
    print(f"{path.split('/')[-1]}: valid HTML5, self-contained, {len(svgs)} charts, {len(data)} bytes")

sim = open(sys.argv[1], encoding="utf-8").read()
# One waiting-time histogram per step with observations (concept 1 has four steps, all waited for).
n = sim.count('class="wait-hist"')
if n != 4:
    sys.exit(f"report.html: expected 4 waiting-time histograms, found {n}")
PY
echo "report html: ok"
