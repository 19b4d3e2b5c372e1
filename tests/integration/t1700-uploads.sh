#!/usr/bin/env bash
# Uploads, workspace files and attachments: multipart uploads through
# api-gateway into runtime.uploads and back byte for byte, the 10 MiB cap,
# malformed bodies, the workspace file endpoints with the path corpus and
# a planted symbolic link, and upload_blocks() (through the uploadblocks
# helper) for every attachment class.
. "$(dirname "$0")/../lib.sh"

spawn() { lf_req POST /api/agents "$(lf_spawn_json "name = \"$1\"")"; jb .agent_id; }
# upload AGENT_ID FILE [TYPE] [NAME]: POST the file as the "file" field.
upload() {
	local spec="file=@$2"
	[ -n "${3:-}" ] && spec="$spec;type=$3"
	[ -n "${4:-}" ] && spec="$spec;filename=$4"
	lf_req POST "/api/agents/$1/upload" '' -F "$spec"
}
# fetch FILE_ID OUT: GET /api/uploads/FILE_ID into OUT (binary safe).
fetch() {
	LF_STATUS=$(curl -s -o "$2" -D "$LF_TMP/fetch.hdr" -w '%{http_code}' "$LF_URL/api/uploads/$1")
	LF_HEADERS=$(tr -d '\r' < "$LF_TMP/fetch.hdr")
}
blocks() { LF_BODY=$("$LF_BIN/uploadblocks" "$1" "$2" 2>>"$LF_TMP/log/uploadblocks.log"); }

lf_stack_start agent-runtime
lf_wait_ok /api/agents || { echo "Bail out! GET /api/agents never answered 200"; lf_dump_logs; exit 1; }
D=$LF_TMP/files
mkdir -p "$D"

A=$(spawn up-one)
B=$(spawn up-two)
t_ok "two agents spawned" test -n "$A" -a -n "$B"

# ---- test files --------------------------------------------------------------
python3 - "$D" <<'EOF'
import struct, sys, zlib
d = sys.argv[1]
def chunk(t, b):
    c = t + b
    return struct.pack(">I", len(b)) + c + struct.pack(">I", zlib.crc32(c) & 0xffffffff)
raw = b"".join(b"\x00" + bytes((x * 37 + y * 11) & 0xff for x in range(48)) for y in range(16))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)) + \
    chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(d + "/img.png", "wb").write(png)
def pdf(content):
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = b"%PDF-1.4\n"
    offs = []
    for i, o in enumerate(objs):
        offs.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offs)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
    return out
open(d + "/doc.pdf", "wb").write(pdf(b"BT /F1 24 Tf 72 700 Td (Hello PDF world) Tj ET"))
open(d + "/scan.pdf", "wb").write(pdf(b""))
open(d + "/big.txt", "w").write(("0123456789abcdefghi\n" * 15000))   # 300,000 characters
open(d + "/script.py", "w").write("print('hi')\n")
open(d + "/bad-utf8.txt", "wb").write(b"ok \xff\xfe and \x00 nul\n")
EOF
printf 'hello, attachment\n' > "$D/hello.txt"
head -c 100000 /dev/urandom > "$D/random.bin"
head -c 20000 /dev/urandom > "$D/blob.bin"
printf 'PK\003\004 not really a zip' > "$D/archive.zip"
head -c 10485760 /dev/zero > "$D/exact.bin"
head -c 10485761 /dev/zero > "$D/over.bin"
head -c 11534336 /dev/zero > "$D/huge.bin"

# ---- upload and serve ----------------------------------------------------------
upload "$A" "$D/img.png" image/png
t_eq "POST /upload of a PNG is 201" "$LF_STATUS" 201
t_eq "with filename, content_type and size" "$(jb '"\(.filename) \(.content_type) \(.size)"')" \
    "img.png image/png $(stat -c %s "$D/img.png")"
PNG_ID=$(jb .file_id)
t_ok "and a file_id that is a UUID" bash -c '[[ $0 =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]' "$PNG_ID"
t_eq "and the url to fetch it" "$(jb .url)" "/api/uploads/$PNG_ID"

fetch "$PNG_ID" "$D/got.png"
t_eq "GET /api/uploads/{id} is 200" "$LF_STATUS" 200
t_ok "the same bytes come back" cmp "$D/img.png" "$D/got.png"
t_eq "served as image/png" "$(lf_hdr content-type)" "image/png"
t_eq "inline, with its name" "$(lf_hdr content-disposition)" 'inline; filename="img.png"'
t_eq "the security headers are there" "$(lf_hdr x-content-type-options)" "nosniff"

upload "$A" "$D/random.bin" application/octet-stream
RND_ID=$(jb .file_id)
fetch "$RND_ID" "$D/got.bin"
t_ok "100 kB of random bytes round-trip exactly" cmp "$D/random.bin" "$D/got.bin"
t_eq "an unknown type is served as an attachment" "$(lf_hdr content-disposition)" 'attachment; filename="random.bin"'

upload "$A" "$D/hello.txt" text/plain
TXT_ID=$(jb .file_id)
t_eq "a text file uploads (201)" "$LF_STATUS $(jb .size)" "201 18"
upload "$A" "$D/doc.pdf" application/pdf
PDF_ID=$(jb .file_id)
t_eq "a PDF uploads (201)" "$LF_STATUS $(jb .content_type)" "201 application/pdf"
upload "$A" "$D/scan.pdf" application/pdf
SCAN_ID=$(jb .file_id)
upload "$A" "$D/big.txt" text/plain
BIG_ID=$(jb .file_id)
upload "$A" "$D/script.py"
PY_ID=$(jb .file_id)
t_eq "without a type, curl's application/octet-stream is kept" "$LF_STATUS $(jb .content_type)" "201 application/octet-stream"
upload "$A" "$D/archive.zip" application/zip
ZIP_ID=$(jb .file_id)
upload "$A" "$D/bad-utf8.txt" text/plain
BAD_ID=$(jb .file_id)
upload "$B" "$D/hello.txt" text/plain
B_TXT_ID=$(jb .file_id)

upload "$A" "$D/hello.txt" text/plain 'naïve résumé.txt'
t_eq "a UTF-8 file name is kept" "$LF_STATUS $(jb .filename)" "201 naïve résumé.txt"
lf_req GET "/api/uploads/$(jb .file_id)"
t_eq "and made safe in Content-Disposition" "$(lf_hdr content-disposition)" 'inline; filename="na__ve r__sum__.txt"'

# ---- the size cap --------------------------------------------------------------
upload "$A" "$D/exact.bin" application/octet-stream
t_eq "exactly 10 MiB is accepted" "$LF_STATUS $(jb .size)" "201 10485760"
fetch "$(jb .file_id)" "$D/got-exact.bin"
t_ok "and served back whole (HTTP $LF_STATUS, $(stat -c %s "$D/got-exact.bin") bytes)" cmp "$D/exact.bin" "$D/got-exact.bin"
upload "$A" "$D/over.bin" application/octet-stream
t_eq "10 MiB + 1 byte is 413" "$LF_STATUS" 413
t_ok "as JSON {\"error\"} ($(jb .error))" lf_err_shape
upload "$A" "$D/huge.bin" application/octet-stream
t_eq "an 11 MiB body is 413 before it is read" "$LF_STATUS" 413
t_ok "as JSON {\"error\"}" lf_err_shape

# ---- malformed uploads ---------------------------------------------------------
lf_req POST "/api/agents/$A/upload" '{"filename":"x"}'
t_eq "a JSON body is 415" "$LF_STATUS" 415
t_ok "as JSON {\"error\"}" lf_err_shape
lf_req POST "/api/agents/$A/upload" '' -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary 'garbage without boundaries'
t_eq "garbage under a multipart type is 400" "$LF_STATUS" 400
t_ok "as JSON {\"error\"} ($(jb .error))" lf_err_shape
lf_req POST "/api/agents/$A/upload" '' -H 'Content-Type: multipart/form-data' --data-binary 'x'
t_eq "multipart without a boundary is 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$A/upload" '' -H 'Content-Type: multipart/form-data; boundary=XyZ' \
    --data-binary $'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nno end'
t_eq "a part that never ends is 400" "$LF_STATUS" 400
t_ok "as JSON {\"error\"} ($(jb .error))" lf_err_shape
lf_req POST "/api/agents/$A/upload" '' -H 'Content-Type: multipart/form-data; boundary=XyZ'
t_eq "an empty multipart body is 400" "$LF_STATUS" 400
lf_req POST "/api/agents/$A/upload" '' -F 'note=just a field'
t_eq "a form without a file is 400" "$LF_STATUS $(jb .error)" "400 no file in the form: send one field with a filename"
lf_req POST "/api/agents/$A/upload" '' -F "a=@$D/hello.txt" -F "b=@$D/hello.txt"
t_eq "two files in one upload is 400" "$LF_STATUS" 400
upload "$A" "$D/hello.txt" text/plain '..'
t_eq "a file name of '..' is 400" "$LF_STATUS" 400
upload "$A" "$D/hello.txt" text/plain 'a/b.txt'
t_eq "a file name with '/' is 400" "$LF_STATUS" 400
t_ok "as JSON {\"error\"} ($(jb .error))" lf_err_shape
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/pl\001ain\r\n\r\nhi\r\n--XyZ--\r\n' > "$D/ctl.form"
lf_req POST "/api/agents/$A/upload" '' -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary "@$D/ctl.form"
t_eq "a content type with a control character is 400" "$LF_STATUS $(jb .error)" "400 Invalid content type: the content type must be printable ASCII"
sed 's/text\/pl.ain/text\/plain/' "$D/ctl.form" > "$D/ok.form"
lf_req POST "/api/agents/$A/upload" '' -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary "@$D/ok.form"
t_eq "the same form with a clean type is 201" "$LF_STATUS $(jb '"\(.filename) \(.content_type) \(.size)"')" "201 a.txt text/plain 2"
printf -- 'preamble\r\n------WebKitFormBoundaryAbC\r\nContent-Disposition: form-data; name="note"\r\n\r\nfirst a field\r\n------WebKitFormBoundaryAbC\r\ncontent-disposition: form-data; name="file"; filename="say \\"hi\\".txt"\r\ncontent-type: text/plain\r\n\r\nhi\r\nthere\r\n------WebKitFormBoundaryAbC--\r\nepilogue\r\n' > "$D/browser.form"
lf_req POST "/api/agents/$A/upload" '' -H 'Content-Type: multipart/form-data; charset=utf-8; boundary="----WebKitFormBoundaryAbC"' --data-binary "@$D/browser.form"
t_eq "preamble, quoted boundary, another field, escaped quotes, epilogue: 201" \
    "$LF_STATUS $(jb '"\(.filename)|\(.content_type)|\(.size)"')" '201 say "hi".txt|text/plain|9'
upload 00000000-0000-4000-8000-000000000000 "$D/hello.txt" text/plain
t_eq "an upload for an unknown agent is 404" "$LF_STATUS $(jb .error)" "404 Agent not found"
upload not-a-uuid "$D/hello.txt" text/plain
t_eq "an upload for a bad agent id is 400" "$LF_STATUS $(jb .error)" "400 Invalid agent ID"
lf_req GET /api/uploads/not-a-uuid
t_eq "GET /api/uploads/<bad id> is 400" "$LF_STATUS $(jb .error)" "400 Invalid file ID"
lf_req GET /api/uploads/00000000-0000-4000-8000-000000000000
t_eq "GET /api/uploads/<unknown id> is 404" "$LF_STATUS $(jb .error)" "404 File not found"
t_ok "as JSON" bash -c "printf '%s\n' \"\$0\" | grep -qi '^content-type: application/json'" "$LF_HEADERS"

# ---- workspace files --------------------------------------------------------------
WS=$LIBREFANG_HOME/data/workspaces/up-one
lf_req GET "/api/agents/$A/files"
t_eq "GET /files is 200" "$LF_STATUS" 200
t_eq "an empty workspace lists nothing" "$(jbc '[.agent_id == "'"$A"'", .files, .total]')" '[true,[],0]'
lf_req PUT "/api/agents/$A/files/notes.md" '{"content":"# Notes\nline two\n"}'
t_eq "PUT /files/notes.md is 200 saved" "$LF_STATUS $(jb '"\(.status) \(.name) \(.size_bytes)"')" "200 saved notes.md 17"
t_eq "the file is in the workspace" "$(cat "$WS/notes.md")" $'# Notes\nline two'
lf_req GET "/api/agents/$A/files/notes.md"
t_eq "GET /files/notes.md gives the content" "$LF_STATUS $(jbc '[.name, .content, .size_bytes]')" \
    '200 ["notes.md","# Notes\nline two\n",17]'
lf_req PUT "/api/agents/$A/files/notes.md" '{"content":"v2"}'
lf_req GET "/api/agents/$A/files/notes.md"
t_eq "a second PUT overwrites" "$(jb .content)" "v2"
lf_req PUT "/api/agents/$A/files/blob.bin" "$(jq -nc --arg c "$(base64 -w0 "$D/blob.bin")" '{content: $c, encoding: "base64"}')"
t_eq "PUT with encoding base64 stores bytes" "$LF_STATUS $(jb .size_bytes)" "200 20000"
t_ok "exactly" cmp "$D/blob.bin" "$WS/blob.bin"
lf_req GET "/api/agents/$A/files/blob.bin"
t_eq "GET of a binary file answers base64" "$(jb .encoding)" "base64"
t_ok "of the same bytes" bash -c 'printf "%s" "$0" | base64 -d | cmp - "$1"' "$(jb .content)" "$D/blob.bin"
mkdir -p "$WS/subdir"
lf_req GET "/api/agents/$A/files"
t_eq "the list has the regular files, sorted" "$(jbc '[.files[] | [.name, .size_bytes]]')" '[["blob.bin",20000],["notes.md",2]]'
t_ok "with modified_at timestamps" bash -c '[[ $0 =~ ^20[0-9-]+T[0-9:]+Z$ ]]' "$(jb '.files[0].modified_at')"
lf_req DELETE "/api/agents/$A/files/notes.md"
t_eq "DELETE /files/{filename} is 200 deleted" "$LF_STATUS $(jb .status)" "200 deleted"
t_ok "the file is gone" test ! -e "$WS/notes.md"
lf_req GET "/api/agents/$A/files/notes.md"
t_eq "GET of a deleted file is 404" "$LF_STATUS $(jb .error)" "404 File not found"
lf_req DELETE "/api/agents/$A/files/notes.md"
t_eq "DELETE of a missing file is 404" "$LF_STATUS" 404
lf_req GET "/api/agents/$A/files/subdir"
t_eq "a directory is not a file (400)" "$LF_STATUS" 400
lf_req DELETE "/api/agents/$A/files/subdir"
t_eq "and is not deleted (400)" "$LF_STATUS" 400
t_ok "it is still there" test -d "$WS/subdir"
lf_req PUT "/api/agents/$A/files/x.txt" '{"content":1}'
t_eq "PUT with a non-string content is 400" "$LF_STATUS" 400
lf_req PUT "/api/agents/$A/files/x.txt" '{"content":"a","mode":"0777"}'
t_eq "PUT with an unknown field is 400" "$LF_STATUS $(jb .error)" "400 unknown field 'mode'"
lf_req PUT "/api/agents/$A/files/x.txt" '{"content":"@@","encoding":"base64"}'
t_eq "PUT with bad base64 is 400" "$LF_STATUS" 400
lf_req GET /api/agents/00000000-0000-4000-8000-000000000000/files
t_eq "files of an unknown agent: 404" "$LF_STATUS $(jb .error)" "404 Agent not found"
lf_req PUT /api/agents/00000000-0000-4000-8000-000000000000/files/a.txt '{"content":"x"}'
t_eq "PUT for an unknown agent: 404" "$LF_STATUS" 404
lf_req GET /api/agents/not-a-uuid/files
t_eq "files of a bad agent id: 400" "$LF_STATUS" 400

# The path corpus, on every method.
echo secret > "$LF_TMP/outside.txt"
for p in '..' '%2e%2e' '%2E%2E' '.' 'a%2Fb' '%2Fetc%2Fpasswd' '..%2Foutside.txt' 'a%5Cb' 'a%00b' '%0a'; do
	for m in GET PUT DELETE; do
		lf_req "$m" "/api/agents/$A/files/$p" '{"content":"pwned"}' --path-as-is
		t_ok "$m /files/$p is refused ($LF_STATUS)" bash -c '[[ $0 == 400 ]] && [ "$(printf "%s" "$1" | jq -r "keys|join(\",\")")" = error ]' "$LF_STATUS" "$LF_BODY"
	done
done
lf_req GET "/api/agents/$A/files/a/b" '' --path-as-is
t_eq "a two-segment name matches no route (404)" "$LF_STATUS" 404
t_eq "nothing was written outside" "$(cat "$LF_TMP/outside.txt")" "secret"
t_ok "nor anywhere in the data directory" bash -c '! grep -rq pwned "$0"' "$LIBREFANG_HOME/data"

# A symbolic link planted in the workspace leads nowhere.
ln -s "$LF_TMP/outside.txt" "$WS/link.txt"
lf_req GET "/api/agents/$A/files/link.txt"
t_eq "GET through a symlink is 400" "$LF_STATUS $(jb .error)" "400 'link.txt' is a symbolic link"
lf_req GET "/api/agents/$A/files"
t_eq "symlinks are not listed" "$(jbc '[.files[].name]')" '["blob.bin"]'
lf_req PUT "/api/agents/$A/files/link.txt" '{"content":"pwned"}'
t_eq "PUT over a symlink replaces the link" "$LF_STATUS" 200
t_eq "and never writes its target" "$(cat "$LF_TMP/outside.txt")" "secret"
t_ok "link.txt is now a plain file" test -f "$WS/link.txt" -a ! -L "$WS/link.txt"
ln -s "$LF_TMP/outside.txt" "$WS/link2.txt"
lf_req DELETE "/api/agents/$A/files/link2.txt"
t_eq "DELETE of a symlink removes the link only" "$LF_STATUS $(cat "$LF_TMP/outside.txt")" "200 secret"

# ---- attachments: upload_blocks() ------------------------------------------------
blocks "$A" "[{\"file_id\":\"$PNG_ID\"}]"
t_eq "an image becomes an image block" "$(jbc '[.rc, (.blocks | length), .blocks[0].type, .blocks[0].media_type]')" '[0,1,"image","image/png"]'
t_eq "with the file inline in base64" "$(jb '.blocks[0].data')" "$(base64 -w0 "$D/img.png")"

blocks "$A" "[{\"file_id\":\"$PDF_ID\",\"filename\":\"doc.pdf\",\"content_type\":\"application/pdf\"}]"
t_eq "a PDF becomes a text block" "$(jbc '[.rc, .blocks[0].type]')" '[0,"text"]'
t_eq "starting with the line [Attached PDF: doc.pdf]" "$(jb '.blocks[0].text' | head -1)" "[Attached PDF: doc.pdf]"
t_ok "with the extracted text" bash -c '[[ $0 == *"Hello PDF world"* ]]' "$(jb '.blocks[0].text')"
blocks "$A" "[{\"file_id\":\"$SCAN_ID\"}]"
t_ok "a PDF without text gets a note ($(jb '.blocks[0].text' | tail -1))" \
    bash -c '[[ $0 == "[Attached PDF: scan.pdf]"* && $0 == *"No text could be extracted"* ]]' "$(jb '.blocks[0].text')"

blocks "$A" "[{\"file_id\":\"$TXT_ID\"}]"
t_eq "a text file becomes [Attached file: name] + contents" "$(jbc '.blocks')" \
    '[{"type":"text","text":"[Attached file: hello.txt]\nhello, attachment\n"}]'
blocks "$A" "[{\"file_id\":\"$PY_ID\"}]"
t_eq "a .py without a type is text, by its extension" "$(jb '.blocks[0].text')" $'[Attached file: script.py]\nprint(\'hi\')'
blocks "$A" "[{\"file_id\":\"$BAD_ID\"}]"
t_eq "invalid UTF-8 and NUL become U+FFFD" "$(jb '.blocks[0].text')" $'[Attached file: bad-utf8.txt]\nok \xef\xbf\xbd\xef\xbf\xbd and \xef\xbf\xbd nul'

blocks "$A" "[{\"file_id\":\"$BIG_ID\"}]"
t_eq "a 300,000-character file is cut at 200,000 characters" \
    "$(jq -r '.blocks[0].text | split("\n[truncated") | .[0] | ltrimstr("[Attached file: big.txt]\n") | length' <<<"$LF_BODY")" 200000
t_eq "and says so" "$(jq -r '.blocks[0].text | endswith("\n[truncated: only the first 200000 characters are shown]")' <<<"$LF_BODY")" true
t_eq "the kept part is the start of the file" \
    "$(jq -r '.blocks[0].text | ltrimstr("[Attached file: big.txt]\n") | .[0:200000]' <<<"$LF_BODY")" "$(head -c 200000 "$D/big.txt")"

blocks "$A" "[{\"file_id\":\"$ZIP_ID\"},{\"file_id\":\"$TXT_ID\"},{\"file_id\":\"$RND_ID\"}]"
t_eq "unsupported types are skipped, the rest kept in order" "$(jbc '[.rc, (.blocks | length), .blocks[0].text]')" \
    '[0,1,"[Attached file: hello.txt]\nhello, attachment\n"]'
t_ok "with a warning in the log" grep -q "is not an image, a PDF or text; skipped" "$LF_TMP/log/uploadblocks.log"

blocks "$A" "[{\"file_id\":\"$PNG_ID\"},{\"file_id\":\"$PDF_ID\"},{\"file_id\":\"$TXT_ID\"}]"
t_eq "three attachments, three blocks in order" "$(jbc '[.blocks[] | .type]')" '["image","text","text"]'

blocks "$A" '[{"file_id":"00000000-0000-4000-8000-000000000000"}]'
t_eq "an unknown file_id is an error (SH_EINVAL: 400)" "$(jbc '[.rc, .error, (.blocks | length)]')" \
    '[-6,"attachment '"'"'00000000-0000-4000-8000-000000000000'"'"' not found",0]'
blocks "$A" "[{\"file_id\":\"$B_TXT_ID\"}]"
t_eq "another agent's upload is not found either" "$(jb .rc)" -6
blocks "$A" "[{\"file_id\":\"$TXT_ID\"},{\"file_id\":\"nope\"}]"
t_eq "a malformed file_id fails the whole list" "$(jbc '[.rc, (.blocks | length)]')" '[-6,0]'
blocks "$A" '{"file_id":"x"}'
t_eq "attachments that are not an array: error" "$(jb .error)" "'attachments' must be an array"
blocks "$A" 'null'
t_eq "null attachments: nothing, no error" "$(jbc '[.rc, .blocks]')" '[0,[]]'

# ---- deleting the agent takes its uploads ----------------------------------------
lf_req DELETE "/api/agents/$B"
lf_req GET "/api/uploads/$B_TXT_ID"
t_eq "an agent's uploads go with it" "$LF_STATUS" 404

t_done
