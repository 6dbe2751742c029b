#!/usr/bin/env bash
# Static checks of files that nothing here runs: compose, container and Kubernetes files (no Docker engine or cluster on CI).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check_compose.py docker-compose.kafka.yml
python3 scripts/check_k8s.py
