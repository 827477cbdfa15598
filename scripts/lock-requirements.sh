#!/usr/bin/env bash
# Regenerate requirements/workflows.txt, the hash-locked install of the workflows that hold
# credentials (apply, plan, reconcile): every dependency of pyproject.toml with the [postgres]
# extra, and the build backend, each pinned with the hashes of its files. Run it after changing
# dependencies in pyproject.toml and commit the result (tests/test_lock_file.py checks that every
# dependency is pinned). Pins already in the file are kept; pass --upgrade to move them all to
# the newest releases, or --upgrade-package NAME for one.
#
# pip-compile (pip-tools, pinned here) runs in a throwaway virtual environment with Python 3.11,
# the version the workflows install with (it resolves for the interpreter that runs it). The
# machine's own pip configuration (extra indexes, local wheels) is left out, so the hashes are
# those of the package index alone.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$python" -m venv "$tmp/venv"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_CONSTRAINT
"$tmp/venv/bin/python" -m pip install --quiet 'pip==26.3' 'pip-tools==7.7.0'
mkdir -p requirements
CUSTOM_COMPILE_COMMAND="scripts/lock-requirements.sh" "$tmp/venv/bin/pip-compile" --quiet \
  --generate-hashes --allow-unsafe --strip-extras --all-build-deps --extra postgres \
  --no-emit-index-url --no-emit-find-links \
  --output-file requirements/workflows.txt "$@" pyproject.toml
