#!/usr/bin/env bash
# make down: delete the kind cluster made by `make up` (everything in it goes with it).
set -euo pipefail
CLUSTER=${CLUSTER:-deepiri}
export PATH="${DEEPIRI_TOOLS:-$HOME/.cache/deepiri-tools/bin}:$PATH"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind delete cluster --name "$CLUSTER"
else
  echo "no kind cluster named $CLUSTER"
fi
