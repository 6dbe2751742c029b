#!/usr/bin/env bash
# Static checks of files that nothing here runs: compose and container files (no Docker engine on CI).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check_compose.py docker-compose.kafka.yml
