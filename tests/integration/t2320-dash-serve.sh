#!/usr/bin/env bash
# The dashboard's files (services/api-gateway/gw_dash.c): GET / and
# GET /dashboard/<path> answer every file of dashboard/ byte for byte with
# its content type, a strong ETag (If-None-Match: 304), Cache-Control,
# gzip when asked (Vary), the dashboard's strict CSP; HEAD; 404 JSON for
# anything else; the first page's compressed size; and, read from the
# files, no inline script or style and no HTML built from strings.
. "$(dirname "$0")/../lib.sh"

DASH=$LF_ROOT/services/api-gateway/dashboard
CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

lf_start bus
lf_start api-gateway
lf_wait_health 10 || { echo "Bail out! the gateway did not answer"; lf_dump_logs; exit 1; }

# get PATH [curl args..]: the body into $LF_TMP/body, headers into
# LF_HEADERS, the status into LF_STATUS (no decoding of gzip).
get() {
	local path=$1
	shift
	rm -f "$LF_TMP/body"
	: > "$LF_TMP/body"
	LF_STATUS=$(curl -s -m 10 -o "$LF_TMP/body" -D "$LF_TMP/hdr" \
	    -w '%{http_code}' "$@" "$LF_URL$path")
	LF_HEADERS=$(tr -d '\r' < "$LF_TMP/hdr")
}

# ---- GET / -------------------------------------------------------------------
get /
t_eq "GET /: 200" "$LF_STATUS" 200
t_ok "GET /: index.html byte for byte" cmp -s "$LF_TMP/body" "$DASH/index.html"
t_eq "GET /: content type" "$(lf_hdr content-type)" "text/html; charset=utf-8"
etag=$(lf_hdr etag)
t_ok "GET /: a strong ETag ($etag)" grep -Eq '^"[0-9a-f]{32}"$' <<<"$etag"
t_eq "GET /: Cache-Control" "$(lf_hdr cache-control)" no-cache
t_eq "GET /: the dashboard's CSP" "$(lf_hdr content-security-policy)" "$CSP"
t_eq "GET /: one CSP header" "$(grep -ci '^content-security-policy:' <<<"$LF_HEADERS")" 1
t_eq "GET /: one Cache-Control header" "$(grep -ci '^cache-control:' <<<"$LF_HEADERS")" 1
t_eq "GET /: Vary" "$(lf_hdr vary)" Accept-Encoding
t_eq "GET /: not compressed unless asked" "$(lf_hdr content-encoding)" ""
t_eq "GET /: x-frame-options kept" "$(lf_hdr x-frame-options)" DENY
t_eq "GET /: nosniff kept" "$(lf_hdr x-content-type-options)" nosniff
t_ok "GET /: a request id" test -n "$(lf_hdr x-request-id)"

# ---- ETag and If-None-Match ----------------------------------------------------
get / -H "If-None-Match: $etag"
t_eq "If-None-Match the ETag: 304" "$LF_STATUS" 304
t_eq "304: no body" "$(wc -c < "$LF_TMP/body")" 0
t_eq "304: the same ETag" "$(lf_hdr etag)" "$etag"
t_eq "304: Cache-Control" "$(lf_hdr cache-control)" no-cache
get / -H "If-None-Match: \"0000\", W/$etag"
t_eq "If-None-Match: a list with the weak form: 304" "$LF_STATUS" 304
get / -H 'If-None-Match: *'
t_eq "If-None-Match: *: 304" "$LF_STATUS" 304
get / -H 'If-None-Match: "00000000000000000000000000000000"'
t_eq "If-None-Match another: 200" "$LF_STATUS" 200
get / -H 'If-None-Match: garbage'
t_eq "If-None-Match malformed: 200" "$LF_STATUS" 200
get / -H 'If-None-Match: "'
t_eq "If-None-Match an open quote: 200" "$LF_STATUS" 200

# ---- gzip ------------------------------------------------------------------------
get / -H 'Accept-Encoding: gzip, deflate, br'
t_eq "gzip asked: 200" "$LF_STATUS" 200
t_eq "gzip asked: Content-Encoding" "$(lf_hdr content-encoding)" gzip
t_ok "gzip asked: the body gunzips to index.html" \
    sh -c "gzip -dc < '$LF_TMP/body' | cmp -s - '$DASH/index.html'"
t_eq "gzip: the file's gzip -9n copy" "$(wc -c < "$LF_TMP/body")" \
    "$(gzip -9n < "$DASH/index.html" | wc -c)"
gzetag=$(lf_hdr etag)
t_eq "gzip: its own ETag" "$gzetag" "${etag%\"}-gz\""
t_eq "gzip: Vary" "$(lf_hdr vary)" Accept-Encoding
t_eq "gzip: content type unchanged" "$(lf_hdr content-type)" "text/html; charset=utf-8"
get / -H 'Accept-Encoding: gzip' -H "If-None-Match: $gzetag"
t_eq "gzip ETag with gzip: 304" "$LF_STATUS" 304
get / -H 'Accept-Encoding: gzip' -H "If-None-Match: $etag"
t_eq "plain ETag with gzip: 200, the gzip copy" \
    "$LF_STATUS $(lf_hdr content-encoding)" "200 gzip"
get / -H "If-None-Match: $gzetag"
t_eq "gzip ETag without gzip: 200, plain" "$LF_STATUS $(lf_hdr content-encoding)" "200 "
get / -H 'Accept-Encoding: gzip;q=0, deflate'
t_eq "gzip;q=0: plain" "$(lf_hdr content-encoding)" ""
get / -H 'Accept-Encoding: *'
t_eq "Accept-Encoding *: gzip" "$(lf_hdr content-encoding)" gzip
get / -H 'Accept-Encoding: br;q=1, GZIP;q=0.5'
t_eq "GZIP;q=0.5: gzip" "$(lf_hdr content-encoding)" gzip
get / -H 'Accept-Encoding: identity'
t_eq "identity: plain" "$(lf_hdr content-encoding)" ""

# ---- HEAD ------------------------------------------------------------------------
get / -I
t_eq "HEAD /: 200" "$LF_STATUS" 200
# (curl -I writes the headers as the output: nothing may follow them)
t_eq "HEAD /: no body" "$(wc -c < "$LF_TMP/body")" "$(wc -c < "$LF_TMP/hdr")"
t_eq "HEAD /: Content-Length of the file" "$(lf_hdr content-length)" \
    "$(wc -c < "$DASH/index.html")"
t_eq "HEAD /: ETag" "$(lf_hdr etag)" "$etag"
get /dashboard/app.css -I -H 'Accept-Encoding: gzip'
t_eq "HEAD of the gzip copy: its length" "$(lf_hdr content-length)" \
    "$(gzip -9n < "$DASH/app.css" | wc -c)"

# ---- every file ------------------------------------------------------------------
n=0 bad=0 gzbytes=0
while IFS= read -r f; do
	rel=${f#"$DASH"/}
	n=$((n + 1))
	case $rel in
	*.html) want="text/html; charset=utf-8" ;;
	*.css) want="text/css; charset=utf-8" ;;
	*.js) want="text/javascript; charset=utf-8" ;;
	*.svg) want="image/svg+xml" ;;
	*.json) want="application/json" ;;
	*) want=? ;;
	esac
	get "/dashboard/$rel"
	if [ "$LF_STATUS" != 200 ] || ! cmp -s "$LF_TMP/body" "$f" ||
	    [ "$(lf_hdr content-type)" != "$want" ] ||
	    [ "$(lf_hdr content-security-policy)" != "$CSP" ] ||
	    [ "$(lf_hdr cache-control)" != no-cache ] ||
	    ! grep -Eq '^"[0-9a-f]{32}"$' <<<"$(lf_hdr etag)"; then
		bad=$((bad + 1))
		echo "# /dashboard/$rel: $LF_STATUS $(lf_hdr content-type)"
	fi
	get "/dashboard/$rel" -H 'Accept-Encoding: gzip'
	if [ "$(lf_hdr content-encoding)" != gzip ] ||
	    ! gzip -dc < "$LF_TMP/body" | cmp -s - "$f"; then
		bad=$((bad + 1))
		echo "# /dashboard/$rel: the gzip copy differs"
	fi
	case $rel in
	*.html|*.css|*.js) gzbytes=$((gzbytes + $(wc -c < "$LF_TMP/body"))) ;;
	esac
done < <(find "$DASH" -type f ! -name '.*' | sort)
t_ok "every file of dashboard/ served, plain and gzip ($n files)" \
    test "$bad" = 0 -a "$n" -ge 6
t_ok "the first page, every html/css/js gzipped: $gzbytes bytes <= 150 KB" \
    test "$gzbytes" -gt 0 -a "$gzbytes" -le 153600

# ---- what is not there -------------------------------------------------------------
get /dashboard/nope.js
t_eq "unknown file: 404" "$LF_STATUS" 404
t_eq "unknown file: JSON" "$(cat "$LF_TMP/body")" \
    '{"error":"not found: /dashboard/nope.js"}'
t_eq "404: the dashboard's CSP" "$(lf_hdr content-security-policy)" "$CSP"
get /dashboard/js
t_eq "a folder: 404" "$LF_STATUS" 404
get /dashboard
t_eq "/dashboard itself: 404" "$LF_STATUS" 404
get /dashboard/../services/api-gateway/gw_dash.c --path-as-is
t_eq "/dashboard/../: 404" "$LF_STATUS" 404
get /dashboard/js/%2e%2e/index.html
t_eq "/dashboard/js/%2e%2e/index.html: 404" "$LF_STATUS" 404
get /dashboard/js/pages/../app.js --path-as-is
t_ok "dot segments never reach a file outside (status $LF_STATUS)" \
    test "$LF_STATUS" = 404 -o "$LF_STATUS" = 200
get / -X POST -H 'Content-Type: application/json' -d '{}'
t_eq "POST /: 405" "$LF_STATUS" 405
get /dashboard/app.css -X DELETE
t_eq "DELETE a file: 405" "$LF_STATUS" 405
get /api/health
t_ok "the API keeps its own CSP" test "$(lf_hdr content-security-policy)" != "$CSP" -a \
    -n "$(lf_hdr content-security-policy)"
t_eq "the API keeps no-store" "$(lf_hdr cache-control)" \
    "no-store, no-cache, must-revalidate"

# ---- the files themselves (what the CSP and safe rendering ask) --------------------
t_ok "index.html: no inline script (every <script> has src)" \
    sh -c "! grep -Eio '<script[^>]*>' '$DASH/index.html' | grep -vq 'src='"
t_ok "no style attribute or inline handler in the HTML" \
    sh -c "! grep -Eiq '[[:space:]](style|on[a-z]+)=' '$DASH/index.html'"
t_ok "no <style> element in the HTML" sh -c "! grep -iq '<style' '$DASH/index.html'"
t_ok "no innerHTML, outerHTML, insertAdjacentHTML, document.write, eval or new Function in js/" \
    sh -c "! grep -rEn 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function' '$DASH/js' | grep -Ev '^[^:]+:[0-9]+:[[:space:]]*//'"
t_ok "no third-party origin named in the files" \
    sh -c "! grep -rEn 'https?://[a-z0-9.-]+[.][a-z]' '$DASH' | grep -v 'www.w3.org/2000/svg'"
t_done
