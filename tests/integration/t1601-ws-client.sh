#!/usr/bin/env bash
# t1601-ws-client.sh - the agent WebSocket driven by the `ws` npm client
# (tests/e2e/ws-agent.test.mjs) against agent-runtime and the fake LLM
# provider: connected, a streamed turn with its response, ping/pong, the
# /usage command, agents_updated, and an unknown agent refused.  t1600
# covers the frame-level protocol with a raw client.
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-ws-0123456789
lf_fake_stack agent-runtime

lf_req POST /api/agents "$(lf_spawn_json "$(lf_fake_toml socket ws-model)")"
t_eq "spawn the agent" "$LF_STATUS" 201

export LF_URL LF_AGENT=$(jb .agent_id) FAKE_URL=$LF_FAKE_URL
t_node ws-agent.test.mjs 7
t_eq "the provider saw the socket's message" \
    "$(lf_fake_requests ws-model | jq -r '.[0].body.messages[-1].content')" "hi there"

t_done
