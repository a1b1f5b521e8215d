# Sourced by the CI checks that need one Python package from PyPI.
# pinned_venv NAME PACKAGE VERSION: makes (or reuses) the virtual environment
# ${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/NAME with exactly PACKAGE==VERSION (the module of
# the same name must report that __version__) and sets VENV to its path.

# The CP-SAT venv ("cpsat") is shared by benches/schedule_bench.sh (the peer solver) and
# scripts/ci.d/45-hfs-bound-proof.sh, so both pin this one version.
CPSAT_ORTOOLS_VERSION=9.15.6755

pinned_venv() {
    local name=$1 package=$2 version=$3
    VENV="${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/$name"
    if ! "$VENV/bin/python" -c "import $package, sys; sys.exit($package.__version__ != '$version')" 2>/dev/null; then
        python3 -m venv "$VENV"
        timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check "$package==$version"
    fi
}

# pinned_venv_pins NAME PACKAGE==VERSION...: the same for several pinned packages (the
# environment is reused when `pip freeze` lists every pin) and sets VENV to its path.
pinned_venv_pins() {
    local name=$1
    shift
    VENV="${ATMPFLOW_VENV_DIR:-/var/tmp/atmpflow-venv}/$name"
    local frozen pin
    frozen=$("$VENV/bin/pip" freeze --disable-pip-version-check 2>/dev/null || true)
    for pin in "$@"; do
        if ! grep -qixF "$pin" <<<"$frozen"; then
            python3 -m venv "$VENV"
            timeout 900 "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@"
            return
        fi
    done
}
