#!/usr/bin/env bash
# Compile pinned, hashed requirements from the pyproject files (no registry URLs recorded).
#   requirements/dev.txt              everything the workspace needs to develop and test
#                                     (the kit, the services, the deepiri CLI in clients/cli)
#   requirements/checkov.txt          the policy scanner (its own venv: it pins packaging<24)
#   services/<svc>/requirements.txt   only that service's runtime closure (its image installs this)
# Service files are constrained by dev.txt so every image runs the versions the tests ran.
# Pass --upgrade to move pins forward.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
common=(--universal --python-version 3.11 --generate-hashes --no-header --quiet
        --no-emit-package deepiri-kit "$@")

members=(services/kit/pyproject.toml clients/cli/pyproject.toml)
for svc in services/*-service; do members+=("$svc/pyproject.toml"); done

"$UV" pip compile "${common[@]}" --all-extras --group pyproject.toml:dev \
  "${members[@]}" --no-emit-package "$(printf '%s\n' services/*-service | xargs -n1 basename | paste -sd, -),deepiri-cli" \
  -o requirements/dev.txt

for svc in services/*-service; do
  "$UV" pip compile "${common[@]}" -c requirements/dev.txt "$svc/pyproject.toml" \
    -o "$svc/requirements.txt"
done
# Tools that cannot share the dev environment get their own pinned, hashed file.
"$UV" pip compile "${common[@]}" --group pyproject.toml:checkov -o requirements/checkov.txt

echo "compiled requirements/dev.txt, requirements/checkov.txt and $(ls -d services/*-service | wc -l) service files"
