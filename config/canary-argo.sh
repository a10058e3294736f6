#!/bin/sh
# canarybot command executor for Argo Rollouts (see docs/src/argo-rollouts.md).
#
#   [service.rollback]
#   kind = "command"
#   argv = ["/usr/local/bin/canary-argo.sh", "<rollout>", "<namespace>"]
#
# canarybot runs it on every decision of the service, with CANARYBOT_ACTION = rollback or
# promote, and CANARYBOT_DEPLOY_ID, CANARYBOT_REASON, … in the environment. Exit 0 is the action
# done; the last lines of output go into the timeline. `exec` hands the process over to kubectl,
# so that canarybot's timeout kills kubectl itself.
set -eu

rollout=${1:?usage: canary-argo.sh ROLLOUT NAMESPACE}
namespace=${2:?usage: canary-argo.sh ROLLOUT NAMESPACE}

case "${CANARYBOT_ACTION:-}" in
rollback)
    printf 'aborting rollout %s/%s for %s: %s\n' "$namespace" "$rollout" \
        "${CANARYBOT_DEPLOY_ID:-?}" "${CANARYBOT_REASON:-no reason given}"
    exec kubectl argo rollouts abort "$rollout" -n "$namespace"
    ;;
promote)
    printf 'promoting rollout %s/%s for %s\n' "$namespace" "$rollout" "${CANARYBOT_DEPLOY_ID:-?}"
    exec kubectl argo rollouts promote "$rollout" -n "$namespace"
    ;;
*)
    printf "CANARYBOT_ACTION is '%s', expected rollback or promote\n" "${CANARYBOT_ACTION:-}" >&2
    exit 2
    ;;
esac
