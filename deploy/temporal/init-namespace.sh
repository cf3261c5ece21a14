#!/bin/sh
# One-shot (compose service temporal-init, image temporalio/admin-tools; works against any cluster with the
# `temporal` CLI): wait for the frontend, create the namespace if missing, register cx-sla's search attributes.
# Idempotent: an attribute that exists with the same type is accepted; one with another type is an error.
#   TEMPORAL_ADDRESS    frontend host:port (default temporal:7233)
#   TEMPORAL_NAMESPACE  namespace (default default)
#   NAMESPACE_RETENTION retention of closed workflows for a new namespace (default 30d)
#   SEARCH_ATTRIBUTES   space-separated Name=Type pairs (workflows/search_attributes.py; tests/test_deploy.py
#                       checks that compose.yaml passes exactly those)
# The CLI's own TEMPORAL_TLS_* / TEMPORAL_API_KEY variables apply if set.
set -eu
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-30d}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES (Name=Type pairs) is not set}"
TRIES="${INIT_TRIES:-60}"

retry() {
  n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge "$TRIES" ]; then
      echo "giving up after $TRIES tries: $*" >&2
      return 1
    fi
    sleep 2
  done
}

retry temporal operator cluster health --address "$ADDRESS" >/dev/null
if ! temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
fi

set --
for pair in $SEARCH_ATTRIBUTES; do
  set -- "$@" --name "${pair%%=*}" --type "${pair#*=}"
done
# A namespace just created takes a moment to reach every frontend: retry.
retry temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" "$@"
echo "namespace $NAMESPACE is ready with search attributes: $SEARCH_ATTRIBUTES"
