#!/usr/bin/env bash
# Regenerates the committed seed corpus (fuzz/corpus/<target>/seed-*) from the test fixtures
# (tests/fixtures/, /work/shared/fixtures/ when present) and from payloads of the black-box tests
# (tests/blackbox/*.rs). Files libFuzzer adds beside them are not committed (.gitignore).
# Usage: fuzz/seed.sh   (from anywhere; needs bash and python3 for URL-encoding)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
corpus="$here/corpus"

targets=(command_parser deploy_webhook metrics_webhook github_webhook flagger_webhook
  alertmanager_webhook slack_inbound discord_interaction signatures)
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t"
  rm -f "$corpus/$t"/seed-*
done

n=0
# seed TARGET CONTENT: one seed file, named by target and a counter.
seed() {
  n=$((n + 1))
  printf '%s' "$2" >"$corpus/$1/seed-$(printf '%03d' "$n")"
}
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]), end="")' "$1"; }

# --- command_parser: "command\ntext" ------------------------------------------------------
for line in \
  $'/rollback\ncheckout p99 doubled' $'/rollback\np99 doubled' $'/rollback\n' \
  $'/canary\nrollback' $'canary\nPROCEED Search looks fine' $'/canary\n' \
  $'/canary\nstatus checkout' $'/canary\ntimeline checkout:production:1.2.3' \
  $'/canary\ntimeline search' $'/canary\nhelp' $'/canary\ndance now' \
  $'/canary\ndrill Checkout' $'/canary\ndrill nosuch' $'/canary\ndrills search' \
  $'\nrollback p99 doubled' $'/canary\nroll-back checkout' $'/canary\npromote' \
  $'/deploy\nnow' $'/CANARY\n  STATUS   İstanbul  '; do
  seed command_parser "$line"
done

# --- deploy_webhook (tests/blackbox/hooks.rs) ---------------------------------------------
for body in \
  '{"event": "started", "service": "checkout", "version": "1.0.0"}' \
  '{"event": "started", "service": "search", "version": "2.0.0", "deploy_id": "search:production:2.0.0"}' \
  '{"event": "started", "service": "checkout", "version": "1", "enviroment": "prod"}' \
  '{"event": "started", "service": "checkout", "version": "1", "deploy_id": "a/b"}' \
  '{"event": "started", "service": "checkout", "version": "1", "criteria": [{"name": "cart errors", "max_ratio": 0}]}' \
  '{"event": "started", "service": "checkout", "version": "1", "criteria": [{"name": "queue depth", "max": 5, "query": "queue_depth"}]}' \
  '{"event": "started", "service": "checkout", "version": "3.0.0", "environment": "staging", "sha": "f95f852", "actor": "alice", "description": "new cart", "url": "https://ci.example.com/1", "criteria": [{"name": "cart add errors", "max": 2, "min": 0, "max_delta": 1, "failure_limit": 2, "unit": "%", "link": "https://grafana/{{service}}/{{version}}"}, {"name": "p99", "max_ratio": 1.5}]}' \
  '{"event": "rolled_back", "service": "checkout", "version": "9"}' \
  '{"event": "promoted", "service": "checkout", "version": "1.0.0", "actor": "argo"}' \
  '{"event": "failed", "service": "checkout", "version": "1.0.0", "deploy_id": "checkout:production:1.0.0"}' \
  '{not json'; do
  seed deploy_webhook "$body"
done

# --- metrics_webhook -----------------------------------------------------------------------
for body in \
  '{"deploy_id": "checkout:production:2.0.0", "samples": [{"criterion": "p99 latency", "canary": 0.9}]}' \
  '{"deploy_id": "checkout:staging:3.0.0", "samples": [{"criterion": "cart add errors", "canary": 3}]}' \
  '{"deploy_id": "checkout:production:1", "at": "2026-11-26T10:00:00Z", "samples": [{"criterion": "5xx ratio", "canary": 0.03, "baseline": 0.004}, {"criterion": "p99", "canary": null, "no_data_reason": "empty result"}]}' \
  '{"deploy_id": "checkout:production:1", "at": "2026-11-26T10:00:00.123+05:30", "samples": []}' \
  '{"deploy_id": "x", "samples": [{"criterion": "5xx ratio", "baseline": 0.004}]}' \
  '{"deploy_id": "x", "at": "yesterday", "samples": [{"criterion": "5xx ratio", "canary": 1}]}'; do
  seed metrics_webhook "$body"
done

# --- github_webhook: the octokit examples -------------------------------------------------
for dir in "$root/tests/fixtures/github" /work/shared/fixtures/github; do
  [ -d "$dir" ] || continue
  for f in "$dir"/*.json; do
    n=$((n + 1))
    cp "$f" "$corpus/github_webhook/seed-$(printf '%03d' "$n")"
  done
  break # the two folders hold the same files
done
seed github_webhook '{"deployment": {"sha": "0123456789abcdef", "ref": "release/2.4", "environment": "production", "task": "rollback", "payload": {"undoes": "checkout:production:2.3"}}, "deployment_status": {"state": "success"}, "repository": {"full_name": "acme/checkout"}}'
seed github_webhook '{"zen": "Keep it logically awesome.", "hook_id": 1}'

# --- flagger_webhook: "?token=" line, then the body (tests/blackbox/flagger.rs) ------------
for phase in Progressing Succeeded Failed Waiting; do
  seed flagger_webhook "-
{\"name\": \"podinfo\", \"namespace\": \"test\", \"phase\": \"$phase\", \"metadata\": {\"eventMessage\": \"$phase canary analysis\", \"eventType\": \"Normal\", \"timestamp\": \"1700000000000\", \"revision\": \"podinfo-7d9f\", \"token\": \"flagger-token-0123456789\"}}"
done
seed flagger_webhook 'flagger-token-0123456789
{"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": {}}'
seed flagger_webhook 'wrong
{"name": "podinfo", "namespace": "test"}'

# --- alertmanager_webhook (tests/blackbox/alertmanager.rs) ---------------------------------
for status in firing resolved; do
  seed alertmanager_webhook "{\"version\": \"4\", \"groupKey\": \"{}:{alertname=\\\"HighErrorRate\\\"}\", \"truncatedAlerts\": 0, \"status\": \"$status\", \"receiver\": \"canarybot\", \"groupLabels\": {\"alertname\": \"HighErrorRate\"}, \"commonLabels\": {\"alertname\": \"HighErrorRate\", \"service\": \"checkout\", \"environment\": \"production\", \"severity\": \"page\"}, \"commonAnnotations\": {\"summary\": \"5xx above 2% for 2m\"}, \"externalURL\": \"http://alertmanager:9093\", \"alerts\": [{\"status\": \"$status\", \"labels\": {\"alertname\": \"HighErrorRate\", \"service\": \"checkout\", \"environment\": \"production\"}, \"annotations\": {\"summary\": \"5xx above 2% for 2m\"}, \"startsAt\": \"2026-11-26T10:00:00Z\", \"endsAt\": \"0001-01-01T00:00:00Z\", \"generatorURL\": \"http://prometheus/graph\", \"fingerprint\": \"1a2b3c\"}]}"
done
seed alertmanager_webhook '{"version": "3", "alerts": []}'
seed alertmanager_webhook '{"alerts": [{"status": "firing"}]}'

# --- slack_inbound: slash commands, interactions, events (tests/blackbox/support.rs, slack.rs)
slash() {
  seed slack_inbound "token=ignored&team_id=T1&channel_id=$3&user_id=$2&user_name=$(urlenc "${2,,}")&command=$(urlenc "$1")&text=$(urlenc "$4")&response_url=$(urlenc https://hooks.slack.com/commands/T1/1/x)&trigger_id=1.2.3"
}
slash /rollback U01ALICE C0CHECKOUT 'p99 doubled'
slash /rollback U01ALICE C0CHECKOUT ''
slash /canary U01ALICE C0CHECKOUT 'proceed looks good'
slash /canary U09EVE C0CHECKOUT 'drill checkout'
slash /canary U01ALICE C0CHECKOUT 'timeline checkout:production:1.2.3'
# Slack's documented signing example body.
seed slack_inbound 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c'
for action in canary_rollback canary_proceed; do
  seed slack_inbound "payload=$(urlenc "{\"type\": \"block_actions\", \"user\": {\"id\": \"U01ALICE\", \"username\": \"u01alice\"}, \"channel\": {\"id\": \"C0CHECKOUT\"}, \"container\": {\"type\": \"message\", \"channel_id\": \"C0CHECKOUT\", \"message_ts\": \"1700000000.000001\"}, \"actions\": [{\"action_id\": \"$action\", \"value\": \"checkout:production:2.0.0\", \"type\": \"button\"}]}")"
done
seed slack_inbound '{"type": "event_callback", "event_id": "Ev0001", "event": {"type": "app_mention", "user": "U01ALICE", "text": "<@UBOT> rollback p99 doubled", "channel": "C0CHECKOUT", "ts": "1700000000.500000", "thread_ts": "1700000000.000001"}}'
seed slack_inbound '{"type": "event_callback", "event_id": "Ev0003", "event": {"type": "app_mention", "user": "U05DAVE", "text": "<@UBOT> status", "channel": "C0CHECKOUT", "ts": "1700000000.700000"}}'
seed slack_inbound '{"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "token": "x"}'

# --- discord_interaction (tests/blackbox/discord.rs) ---------------------------------------
member='"member": {"user": {"id": "4455", "username": "user4455"}, "roles": ["6677"]}'
seed discord_interaction '{"id": "1", "type": 1}'
seed discord_interaction "{\"id\": \"i-1\", \"type\": 3, \"channel_id\": \"1111\", $member, \"message\": {\"id\": \"1\"}, \"data\": {\"custom_id\": \"canary_rollback:checkout:production:2.0.0\", \"component_type\": 2}}"
seed discord_interaction "{\"id\": \"i-2\", \"type\": 3, \"channel_id\": \"1111\", $member, \"message\": {\"id\": \"1\"}, \"data\": {\"custom_id\": \"canary_proceed\", \"component_type\": 2}}"
seed discord_interaction "{\"id\": \"d-1\", \"type\": 2, \"channel_id\": \"1111\", $member, \"data\": {\"name\": \"canary\", \"type\": 1, \"options\": [{\"type\": 1, \"name\": \"drill\", \"options\": [{\"type\": 3, \"name\": \"service\", \"value\": \"checkout\"}]}]}}"
seed discord_interaction "{\"id\": \"d-2\", \"type\": 2, \"channel_id\": \"1111\", $member, \"data\": {\"name\": \"canary\", \"type\": 1, \"options\": [{\"type\": 1, \"name\": \"drills\"}]}}"
seed discord_interaction "{\"id\": \"d-3\", \"type\": 2, \"channel_id\": \"1111\", $member, \"data\": {\"name\": \"rollback\", \"type\": 1, \"options\": [{\"type\": 3, \"name\": \"service\", \"value\": \"checkout\"}, {\"type\": 3, \"name\": \"reason\", \"value\": \"p99 doubled\"}]}}"
seed discord_interaction '{"id": "d-4", "type": 2, "channel": {"id": "1111"}, "user": {"id": "9", "global_name": "Nine"}, "data": {"name": "canary", "options": [{"type": 1, "name": "timeline", "options": [{"type": 3, "name": "target", "value": "checkout:production:1"}]}]}}'

# --- signatures: structured (arbitrary) input; any bytes are a case, these are realistic ones
seed signatures "$(head -c 600 "$root/tests/fixtures/github/deployment.payload.json")"
seed signatures 'Bearer t0ken-0123456789abcdef sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8 v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503 1531420618 8f742231b10e8888abcd99yyyzzz85a5'
seed signatures 'Basic dXNlcjp0MGtlbg== token=t0ken&x=1 -9223372036854775808 9223372036854775807'

for t in "${targets[@]}"; do
  printf '%-22s %s seeds\n' "$t" "$(ls "$corpus/$t" | grep -c '^seed-')"
done
