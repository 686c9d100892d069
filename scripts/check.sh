#!/usr/bin/env bash
# Lint, type-check and test (what CI runs after scripts/setup.sh --dev).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check s2t_stream tests bench scripts server.py gui
.venv/bin/ruff format --check s2t_stream tests bench scripts server.py gui
.venv/bin/mypy
.venv/bin/pytest -q "$@"
