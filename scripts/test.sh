#!/usr/bin/env bash
# The test command: installs missing services, builds, runs every test project, and ends with
# one line `N passed, N failed[, N skipped]` summed over all test projects.
# Extra arguments go to `dotnet test` (for example: --filter-not-trait "Category=Integration").
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "dependency install failed"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet test --solution FeatureStore.sln "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Microsoft.Testing.Platform prints `total:`, `failed:`, `succeeded:`, `skipped:` per summary block.
read -r passed failed skipped < <(awk '
  /^[[:space:]]*succeeded:[[:space:]]*[0-9]+/ { p += $2 }
  /^[[:space:]]*failed:[[:space:]]*[0-9]+/    { f += $2 }
  /^[[:space:]]*skipped:[[:space:]]*[0-9]+/   { s += $2 }
  END { printf "%d %d %d\n", p, f, s }' "$log")

if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # a build or runner failure counts
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit "$rc"
