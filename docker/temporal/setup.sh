#!/bin/sh
# One-shot set-up of the Temporal server for Switchboard: the `temporal-setup` service of
# docker-compose.yml runs it in the temporalio/admin-tools image.
#
#   setup.sh NAME...
#
# Creates the namespace if it does not exist, and registers each NAME as a Keyword search
# attribute (CONTRACT.md "Search attributes") with
# `temporal operator search-attribute create --name NAME --type Keyword`. It first waits until the
# server reports itself healthy, and it is idempotent: a namespace or a name the server already
# has is left alone, so every `docker compose up` may run it again. Exits non-zero when the attributes are not all registered within SETUP_TIMEOUT seconds.
#
# Environment: TEMPORAL_ADDRESS (default temporal:7233), TEMPORAL_NAMESPACE (default "default"),
# SETUP_TIMEOUT (default 300), SETUP_RETRY_INTERVAL (seconds between attempts, default 2).
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"
timeout="${SETUP_TIMEOUT:-300}"
pause="${SETUP_RETRY_INTERVAL:-2}"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 NAME...  (search attributes to register as Keyword)" >&2
    exit 2
fi

started=$(date +%s)

# Give up with a message once the deadline has passed; otherwise wait a little before a retry.
retry_or_give_up() {
    if [ $(( $(date +%s) - started )) -ge "$timeout" ]; then
        echo "temporal-setup: gave up after ${timeout}s: $1" >&2
        exit 1
    fi
    sleep "$pause"
}

# The namespace's search attributes as the server lists them (system and custom).
listed() {
    temporal operator search-attribute list --address "$address" --namespace "$namespace" 2>/dev/null || true
}

until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
    echo "temporal-setup: waiting for Temporal at $address"
    retry_or_give_up "Temporal at $address does not answer"
done
echo "temporal-setup: Temporal at $address is healthy"

until temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; do
    if temporal operator namespace create --address "$address" --namespace "$namespace"; then
        echo "temporal-setup: created namespace '$namespace'"
    else
        retry_or_give_up "could not create namespace '$namespace'"
    fi
done
echo "temporal-setup: namespace '$namespace' exists"

for name in "$@"; do
    until listed | grep -qw -- "$name"; do
        if temporal operator search-attribute create --address "$address" --namespace "$namespace" \
                --name "$name" --type Keyword; then
            echo "temporal-setup: registered $name (Keyword)"
        else
            # Not ready yet, or a concurrent run created it first: the list decides.
            retry_or_give_up "could not register search attribute $name"
        fi
    done
done

echo "temporal-setup: all $# search attributes are registered on namespace '$namespace':"
for name in "$@"; do
    listed | grep -w -- "$name" || true
done
