#!/usr/bin/env bash
# t6001-memory-search.sh - searching proactive memory (issue 10, part
# "memory"): full-text matches ranked (ts_rank) with stemming, trigram
# matches for typos, each result saying why it matched (match.fts_rank,
# similarity, terms); recall bumps access counts; per-agent search never
# shows another agent's items; strings full of operators and quotes are
# never an error; near-duplicate pairs and their consolidation (history
# MERGE, the higher confidence kept).
. "$(dirname "$0")/../lib.sh"

export FAKE_API_KEY=sk-fake-memory-0123456789
lf_fake_stack agent-runtime memory

add() {	# AGENT CONTENT [CONFIDENCE]: prints the id
	lf_req POST /api/memory "$(jq -nc --arg a "$1" --arg c "$2" --argjson k "${3:-1}" '{agent_id: $a, content: $c, confidence: $k}')"
	[ "$LF_STATUS" = 200 ] || echo "# add: $LF_STATUS $LF_BODY" >&2
	jb '.memories[0].item.id'
}
A=$(lf_agent search-a m-a)
B=$(lf_agent search-b m-b)

K1=$(add "$A" "Kubernetes clusters are deployed with Helm charts")
K2=$(add "$A" "The database migrations run before deploying the service")
K3=$(add "$A" "Coffee machine on the third floor is broken")
add "$A" "Quarterly report is due on the fifth of March" >/dev/null
BK=$(add "$B" "Kubernetes secrets for agent B only")

# ---- full text ---------------------------------------------------------------------
lf_req GET "/api/memory/agents/$A/search?q=deploying"
t_eq "stemming: 'deploying' finds 'deployed' and 'deploying'" "$LF_STATUS $(jb .total) $(jbc '[.memories[].id] | sort')" \
    "200 2 $(jq -nc --arg a "$K1" --arg b "$K2" '[$a, $b] | sort')"
t_eq "each result says why it matched" "$(jbc '.memories[0].match | [(.fts_rank > 0), (.similarity >= 0), .terms]')" '[true,true,["deploy"]]'
lf_req GET "/api/memory/agents/$A/search?q=kubernetes%20helm"
t_eq "the better match ranks first, with both terms" "$(jb '.memories[0].id') $(jbc '.memories[0].match.terms | sort')" "$K1 [\"helm\",\"kubernet\"]"
t_eq "agent A's search never shows B's item" "$(jbc "[.memories[].id] | index(\"$BK\")")" null
t_eq "results carry score and item fields" "$(jbc '.memories[0] | [has("score"), .agent_id, .content]')" \
    "[true,\"$A\",\"Kubernetes clusters are deployed with Helm charts\"]"

# ---- trigram: a typo FTS cannot match ------------------------------------------------
lf_req GET "/api/memory/agents/$A/search?q=Kubernetis"
t_eq "a typo finds the item by similarity, fts_rank 0" "$LF_STATUS $(jb '.memories[0].id') $(jbc '.memories[0].match | [.fts_rank, (.similarity > 0.5), .terms]')" \
    "200 $K1 [0,true,[]]"

# ---- recall bumps access counts -------------------------------------------------------
t_eq "recall bumped access_count" "$(lf_psql "SELECT access_count FROM memory.items WHERE id = '$K1'")" 3

# ---- global search, filters -----------------------------------------------------------
lf_req GET "/api/memory/search?q=kubernetes"
t_eq "global search finds both agents' items" "$LF_STATUS $(jb .total)" "200 2"
lf_req GET "/api/memory/search?q=kubernetes&agent_id=$B"
t_eq "global search filtered by agent_id" "$(jb .total) $(jb '.memories[0].id')" "1 $BK"
lf_req GET "/api/memory/search?q=kubernetes&limit=1"
t_eq "limit" "$(jb '.memories | length')" 1
lf_req GET "/api/memory/search?q=kubernetes&min_confidence=1.5"
t_eq "min_confidence out of range is 400" "$LF_STATUS" 400

# ---- hostile strings: never an error ---------------------------------------------------
for q in '"unterminated' 'a & | ! ( ) <-> :*' "'; DROP TABLE memory.items; --" '!!!' '&&&&' '(((((' '-' 'or or or' '"" "" ""' '\\' ':*' 'kubernetes <-> helm' '%' '_' '*'; do
	enc=$(jq -rn --arg q "$q" '$q | @uri')
	lf_req GET "/api/memory/agents/$A/search?q=$enc"
	t_eq "search for $(printf '%q' "$q") is 200" "$LF_STATUS $(jb '.memories | type')" "200 array"
done
t_eq "the table is still there" "$(lf_psql "SELECT count(*) FROM memory.items")" 5
lf_req GET "/api/memory/agents/$A/search"
t_eq "no q is 400" "$LF_STATUS" 400
lf_req GET "/api/memory/agents/$A/search?q="
t_eq "an empty q is 400" "$LF_STATUS" 400
lf_req GET "/api/memory/agents/$A/search?q=$(head -c 1100 /dev/zero | tr '\0' a)"
t_eq "a q over 1000 bytes is 400" "$LF_STATUS" 400
lf_req GET "/api/memory/agents/$A/search?q=x%00y"
t_eq "a q with NUL is 400" "$LF_STATUS" 400
for q in 'limit=0' 'limit=-3' 'limit=101' 'limit=1e9' 'level=galaxy'; do
	lf_req GET "/api/memory/agents/$A/search?q=x&$q"
	t_eq "search with $q is 400" "$LF_STATUS" 400
done
lf_req GET "/api/memory/agents/11111111-2222-4333-8444-555555555555/search?q=x"
t_eq "an unknown agent is 404" "$LF_STATUS" 404

# ---- duplicates and consolidation ---------------------------------------------------
D1=$(add "$A" "The staging server runs Debian bookworm with PostgreSQL" 0.6)
# A near-duplicate written directly: add would refuse it (NOOP) at 0.85.
D2=$(lf_psql "INSERT INTO memory.items (id, agent_id, content, confidence) VALUES (gen_random_uuid(), '$A', 'The staging server runs Debian bookworm with PostgreSQL 15', 0.9) RETURNING id" | head -1)
lf_req GET "/api/memory/agents/$A/duplicates"
t_eq "duplicates: the pair, with its similarity" "$LF_STATUS $(jb .count) $(jbc "[.duplicates[0].a.id, .duplicates[0].b.id] | sort == ([\"$D1\", \"$D2\"] | sort)") $(jbc '.duplicates[0].similarity > 0.85')" "200 1 true true"
lf_req GET "/api/memory/agents/$A/duplicates?threshold=0.1"
t_eq "a threshold under 0.3 is 400" "$LF_STATUS" 400
lf_req POST "/api/memory/agents/$A/consolidate" '{}'
t_eq "consolidate merges the pair, keeping the higher confidence" "$LF_STATUS $(jb .merged) $(jb '.merges[0].kept') $(jb '.merges[0].removed')" "200 1 $D2 $D1"
t_eq "the removed one is gone, the kept one has both histories' MERGE" \
    "$(lf_psql "SELECT deleted_at IS NOT NULL FROM memory.items WHERE id = '$D1'") $(lf_psql "SELECT count(*) FROM memory.item_history WHERE event = 'MERGE'")" "t 2"
lf_req GET "/api/memory/agents/$A/duplicates"
t_eq "no duplicates left" "$(jb .count)" 0
lf_req GET "/api/memory/agents/$B/duplicates"
t_eq "B has none" "$LF_STATUS $(jb .count)" "200 0"

t_done
