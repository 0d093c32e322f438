#!/usr/bin/env bash
# Create or reuse the repository's virtual environment and install neurocine into it (editable,
# with the test extra). Used by `make demo` and `make test`; safe to run again at any time.
#
# What it installs, in this order:
#   1. torch, only when the venv has none. Without `nvidia-smi` the requirement is
#      torch==2.13.0 (the machine's pip config may point find-links at a local CPU wheel); pip's
#      plan is checked first and the install is refused if it would pull CUDA packages.
#      With a working `nvidia-smi` it is the CUDA build from the package index
#      (torch==2.13.0,!=2.13.0+cpu). NEUROCINE_TORCH / NEUROCINE_TORCH_INDEX override both.
#   2. `pip install -e .[test]`, then a stamp keyed on setup.py, pyproject.toml and the Python
#      version, so an up-to-date venv is reused in about a second.
#
# Environment: PYTHON (interpreter for a new venv), VENV (default .venv), NEUROCINE_TORCH (a pip
# requirement), NEUROCINE_TORCH_INDEX (an --index-url for torch only), VERBOSE=1 (pip output).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
[[ "$VENV" == /* ]] || VENV="$ROOT/$VENV"
VPY="$VENV/bin/python"
STAMP="$VENV/.neurocine-bootstrap"
TORCH_VERSION="2.13.0"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

PIP_QUIET=(-q)
[[ "${VERBOSE:-0}" == 1 ]] && PIP_QUIET=()
pip_install() { "$VPY" -m pip install "${PIP_QUIET[@]}" --progress-bar off "$@"; }

# Two `make` runs at once (e.g. `make -j demo test`) must not install into the same venv together.
if command -v flock >/dev/null 2>&1; then
    exec 9<"$ROOT/scripts/$(basename "${BASH_SOURCE[0]}")"
    flock 9
fi

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [[ -n "$candidate" ]] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    die "no Python >= 3.10 found (set PYTHON=/path/to/python3)"
}

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

stamp_key() {
    # Anything that changes what `pip install -e .[test]` would do invalidates the stamp.
    "$VPY" - <<'EOF'
import hashlib, sys
h = hashlib.sha256()
for name in ("setup.py", "pyproject.toml"):
    with open(name, "rb") as f:
        h.update(name.encode() + b"\0" + f.read())
h.update(sys.version.encode())
print(h.hexdigest())
EOF
}

installed_here() {
    # From a folder outside the repo, so the repo itself on sys.path cannot mask a missing install.
    (cd / && "$VPY" - "$ROOT" <<'EOF'
import importlib.util, os, sys
import neurocine_toolbox
root = os.path.realpath(sys.argv[1])
paths = [neurocine_toolbox.__file__, importlib.util.find_spec("neurocine_toolbox.cli").origin]
sys.exit(not all(os.path.realpath(p).startswith(root + os.sep) for p in paths))
EOF
    ) >/dev/null 2>&1 && [[ -x "$VENV/bin/neurocine" ]]
}

# --- 1. the venv -----------------------------------------------------------------------------
if [[ -x "$VPY" ]] && ! "$VPY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null
then
    die "$VENV exists but its Python is broken or older than 3.10; remove it and rerun"
fi
if [[ ! -x "$VPY" ]]; then
    PY="$(pick_python)"
    say "creating $VENV with $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    "$PY" -m venv "$VENV" || die "'$PY -m venv' failed (on Debian: apt-get install python3-venv)"
    pip_install --upgrade pip setuptools wheel
fi

# --- 2. torch, before anything that depends on it ------------------------------------------
if ! "$VPY" -c 'import importlib.metadata as m; m.version("torch")' >/dev/null 2>&1; then
    index=()
    [[ -n "${NEUROCINE_TORCH_INDEX:-}" ]] && index=(--index-url "$NEUROCINE_TORCH_INDEX")
    if has_gpu; then
        # The default build on the package index is the CUDA one; a local +cpu wheel in
        # find-links would otherwise win (a local version sorts above the plain one).
        torch_req="${NEUROCINE_TORCH:-torch==$TORCH_VERSION,!=$TORCH_VERSION+cpu}"
        say "nvidia-smi sees a GPU: installing $torch_req (CUDA build)"
        pip_install "${index[@]}" "$torch_req"
        "$VPY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' \
            || say "warning: torch installed but torch.cuda.is_available() is False"
    else
        torch_req="${NEUROCINE_TORCH:-torch==$TORCH_VERSION}"
        say "no GPU (nvidia-smi absent or failing): installing $torch_req, CPU build"
        # Ask pip for its plan first: a CUDA build would download several GB for nothing.
        report="$(mktemp)"
        trap 'rm -f "$report"' EXIT
        "$VPY" -m pip install -q --dry-run --ignore-installed --report "$report" \
            "${index[@]}" "$torch_req" >/dev/null
        cuda="$("$VPY" - "$report" <<'EOF'
import json, sys
names = [i["metadata"]["name"].lower() for i in json.load(open(sys.argv[1]))["install"]]
print(" ".join(n for n in names if n.startswith(("nvidia-", "cuda-", "triton"))))
EOF
)"
        if [[ -n "$cuda" ]]; then
            die "pip would install CUDA packages for '$torch_req' on a machine without a GPU ($cuda).
  Point pip at a CPU build, e.g.
    NEUROCINE_TORCH_INDEX=https://download.pytorch.org/whl/cpu make test
  or put a torch-$TORCH_VERSION+cpu wheel in a folder named by pip's find-links."
        fi
        pip_install "${index[@]}" "$torch_req"
    fi
fi

# --- 3. neurocine itself, unless the stamp says it is current --------------------------------
key="$(stamp_key)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$key" ]] && installed_here; then
    say "$VENV is up to date"
    exit 0
fi
say "installing neurocine (editable) with its test extra"
pip_install -e ".[test]"
installed_here || die "neurocine was installed but does not import from $ROOT"
printf '%s\n' "$key" >"$STAMP"
say "done: $("$VPY" -c 'import torch, neurocine_toolbox as n; print("neurocine", n.__version__, "torch", torch.__version__)')"
