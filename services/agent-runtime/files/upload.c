/*
 * files/upload.c - the rules uploads and workspace files share (names, content
 * types, base64), and upload_blocks(): a message's attachments turned
 * into content blocks.
 *
 * The class of a file (spec 004, "Supported Attachment Types") comes from
 * its content type; when that is blank, the generic
 * application/octet-stream, or one we do not know (Windows browsers send
 * application/vnd.ms-excel for .csv), the file name decides.  An image is
 * checked against its magic bytes and sent with the type they show, so a
 * provider never receives a "PNG" that is not one.  The text of a PDF
 * comes from poppler's pdftotext, run as a subprocess with a deadline on
 * a private temporary copy.  Texts are made valid UTF-8 (a bad byte or a
 * NUL becomes U+FFFD) and cut at UPLOAD_TEXT_CHARS characters.
 *
 * This file reads only the uploads table, so that a test program can
 * build it alone (tests/helpers/uploadblocks.c).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "err.h"
#include "files/upload.h"
#include "log.h"
#include "util.h"

#define UPLOAD_PDF_TIMEOUT_MS	30000
#define UPLOAD_PDF_OUT_MAX	(4 * 1024 * 1024)	/* bytes kept */
#define UPLOAD_BLOCK_MAX	(2 * 1024 * 1024)	/* bytes of one text */

extern char **environ;

enum upload_class {
	UC_NONE = 0,
	UC_IMAGE,
	UC_PDF,
	UC_TEXT
};

static const char SQL_GET_OWNED[] =
	"SELECT filename, content_type, "
	"    translate(encode(data, 'base64'), E'\\n', '') AS data "
	"FROM uploads WHERE id = $1::uuid AND agent_id = $2::uuid";

static const char *const upload_image_types[] = {
	"png", "jpeg", "jpg", "gif", "webp", NULL
};

/* Types under application/ that are text (spec 004: JSON, XML, YAML, TOML,
 * JavaScript, TypeScript, SQL, GraphQL), plus a few close relatives. */
static const char *const upload_text_mimes[] = {
	"application/json", "application/x-ndjson", "application/xml",
	"application/yaml", "application/x-yaml", "application/toml",
	"application/x-toml", "application/javascript",
	"application/x-javascript", "application/ecmascript",
	"application/typescript", "application/x-typescript",
	"application/sql", "application/x-sql", "application/graphql",
	"application/x-sh", "application/x-shellscript",
	"application/x-python", "application/x-ipynb+json", NULL
};

static const char *const upload_text_exts[] = {
	"txt", "md", "markdown", "rst", "csv", "tsv", "log", "json", "jsonl",
	"ndjson", "yaml", "yml", "toml", "xml", "ini", "conf", "cfg", "env",
	"properties", "html", "htm", "css", "scss", "less", "js", "mjs", "cjs",
	"ts", "tsx", "jsx", "vue", "svelte", "py", "rs", "go", "java", "kt",
	"kts", "swift", "scala", "c", "cc", "cpp", "cxx", "h", "hpp", "cs",
	"m", "rb", "php", "pl", "lua", "r", "sh", "bash", "zsh", "fish", "ps1",
	"bat", "sql", "graphql", "gql", "proto", "ipynb", "tex", "org", "adoc",
	"diff", "patch", "srt", "vtt", "tf", "hcl", "gradle", "dart", "ex",
	"exs", "erl", "hs", "ml", "clj", "zig", "nim", "jl", "groovy", "svg",
	NULL
};

static const char *const upload_text_names[] = {
	"Dockerfile", "Makefile", "GNUmakefile", "Gemfile", "Rakefile",
	"Procfile", "Jenkinsfile", "Vagrantfile", "LICENSE", "README",
	"CHANGELOG", NULL
};

/* ---- names, types, base64 -------------------------------------------- */

int
upload_name_check(const char *name, char *err, size_t errlen)
{
	const unsigned char	*p;

	if (name == NULL || *name == '\0') {
		snprintf(err, errlen, "the file name is empty");
		return (-1);
	}
	if (strlen(name) > UPLOAD_NAME_MAX) {
		snprintf(err, errlen, "the file name is longer than %d bytes",
		    UPLOAD_NAME_MAX);
		return (-1);
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "'%s' is not a file name", name);
		return (-1);
	}
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "the file name must be one path "
			    "component, without '/', '\\' or control "
			    "characters");
			return (-1);
		}
	}
	return (0);
}

int
upload_ctype_check(const char *ct, char *err, size_t errlen)
{
	const char	*p, *slash;
	size_t		 len = ct != NULL ? strlen(ct) : 0;

	if (len == 0 || len > UPLOAD_CTYPE_MAX) {
		snprintf(err, errlen, "the content type must be 1 to %d bytes",
		    UPLOAD_CTYPE_MAX);
		return (-1);
	}
	for (p = ct; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			snprintf(err, errlen, "the content type must be "
			    "printable ASCII");
			return (-1);
		}
	}
	slash = strchr(ct, '/');
	if (slash == NULL || slash == ct || *ct == ' ' || *ct == ';' ||
	    slash[1] == '\0' || slash[1] == ';' || slash[1] == ' ') {
		snprintf(err, errlen, "the content type must be "
		    "'type/subtype'");
		return (-1);
	}
	return (0);
}

char *
upload_b64_encode(const void *data, size_t len)
{
	char	*out;

	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return (NULL);
	if ((out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return (NULL);
	out[0] = '\0';
	if (len > 0)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return (out);
}

static int
upload_b64_char(unsigned char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/');
}

int
upload_b64_decode(const char *s, size_t len, unsigned char **outp,
    size_t *outlen)
{
	unsigned char	*out;
	size_t		 i, pad = 0;

	*outp = NULL;
	*outlen = 0;
	/* EVP_DecodeBlock() is lenient (spaces, '=' inside): be strict. */
	if (len % 4 != 0 || len > (size_t)INT_MAX)
		return (SH_EINVAL);
	if (len > 0 && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (!upload_b64_char((unsigned char)s[i]))
			return (SH_EINVAL);
	if ((out = malloc(len / 4 * 3 + 1)) == NULL)
		return (SH_ENOMEM);
	if (len > 0 && EVP_DecodeBlock(out, (const unsigned char *)s,
	    (int)len) < 0) {
		free(out);
		return (SH_EINVAL);
	}
	*outlen = len / 4 * 3 - pad;
	out[*outlen] = '\0';
	*outp = out;
	return (0);
}

/* ---- classes --------------------------------------------------------- */

static int
upload_in_icase(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcasecmp(s, *list) == 0)
			return (1);
	return (0);
}

/* The media type of ct, lowercase, without parameters. */
static void
upload_mime(const char *ct, char *out, size_t outlen)
{
	size_t	i = 0;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (; *ct != '\0' && *ct != ';' && *ct != ' ' && i + 1 < outlen;
	    ct++)
		out[i++] = (char)tolower((unsigned char)*ct);
	out[i] = '\0';
}

static int
upload_suffix(const char *s, const char *suffix)
{
	size_t	n = strlen(s), k = strlen(suffix);

	return (n > k && strcmp(s + n - k, suffix) == 0);
}

static enum upload_class
upload_class_of_name(const char *name)
{
	const char	*dot = strrchr(name, '.');

	if (upload_in_icase(name, upload_text_names))
		return (UC_TEXT);
	if (dot == NULL || dot[1] == '\0')
		return (UC_NONE);
	dot++;
	if (strcasecmp(dot, "pdf") == 0)
		return (UC_PDF);
	if (upload_in_icase(dot, upload_image_types))
		return (UC_IMAGE);
	if (upload_in_icase(dot, upload_text_exts))
		return (UC_TEXT);
	return (UC_NONE);
}

static enum upload_class
upload_classify(const char *ctype, const char *name)
{
	char	mime[UPLOAD_CTYPE_MAX + 1];

	upload_mime(ctype, mime, sizeof(mime));
	if (strncmp(mime, "image/", 6) == 0 &&
	    upload_in_icase(mime + 6, upload_image_types))
		return (UC_IMAGE);
	if (strcmp(mime, "application/pdf") == 0)
		return (UC_PDF);
	if (strncmp(mime, "text/", 5) == 0 ||
	    upload_in_icase(mime, upload_text_mimes) ||
	    upload_suffix(mime, "+json") || upload_suffix(mime, "+xml") ||
	    upload_suffix(mime, "+yaml"))
		return (UC_TEXT);
	/* Blank, generic or unknown: the name decides. */
	return (upload_class_of_name(name));
}

static const char *
upload_sniff_image(const unsigned char *p, size_t n)
{
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return ("image/png");
	if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
		return ("image/jpeg");
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 ||
	    memcmp(p, "GIF89a", 6) == 0))
		return ("image/gif");
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 &&
	    memcmp(p + 8, "WEBP", 4) == 0)
		return ("image/webp");
	return (NULL);
}

/* ---- text ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s[0..n), 0 if there is none. */
static size_t
upload_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char	c = s[0], lo = 0x80, hi = 0xbf;
	size_t		len, i;

	if (c < 0x80)
		return (c != 0);
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return (0);
	if (n < len || s[1] < lo || s[1] > hi)
		return (0);
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return (0);
	return (len);
}

/*
 * Appends s[0..n) to b as UTF-8, at most max characters: a byte that
 * starts no valid sequence, or a NUL, becomes U+FFFD; a leading byte-order
 * mark goes.  Sets *cut when characters were left out.  0 or SH_E*.
 */
static int
upload_text_add(struct buf *b, const unsigned char *s, size_t n, size_t max,
    int *cut)
{
	size_t	i = 0, start, chars = 0, k;
	int	rv;

	*cut = 0;
	if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	start = i;
	while (i < n && chars < max) {
		if ((k = upload_utf8_seq(s + i, n - i)) == 0) {
			if ((rv = buf_add(b, s + start, i - start)) != 0 ||
			    (rv = buf_add(b, "\xef\xbf\xbd", 3)) != 0)
				return (rv);
			start = ++i;
		} else
			i += k;
		chars++;
	}
	if ((rv = buf_add(b, s + start, i - start)) != 0)
		return (rv);
	*cut = i < n;
	return (0);
}

static int
upload_blank(const unsigned char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!isspace(s[i]))
			return (0);
	return (1);
}

/* {"type":"text","text":"[<what>: <name>]\n<text or note>"} (new), NULL
 * on ENOMEM. */
static json_t *
upload_text_block(const char *what, const char *name,
    const unsigned char *s, size_t n, const char *note)
{
	struct buf	 b = BUF_INIT(UPLOAD_BLOCK_MAX);
	json_t		*blk = NULL;
	int		 cut = 0;

	if (buf_addf(&b, "[%s: %s]\n", what, name) != 0)
		goto done;
	if (note != NULL) {
		if (buf_adds(&b, note) != 0)
			goto done;
	} else if (upload_text_add(&b, s, n, UPLOAD_TEXT_CHARS, &cut) != 0 ||
	    (cut && buf_addf(&b, "\n[truncated: only the first %d "
	    "characters are shown]", UPLOAD_TEXT_CHARS) != 0))
		goto done;
	blk = json_pack("{s:s, s:s%}", "type", "text", "text", b.b_data,
	    b.b_len);
done:
	buf_release(&b);
	return (blk);
}

/* ---- PDF ------------------------------------------------------------- */

int
upload_write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

/* Starts pdftotext on path, its stdout on fd out.  0 or an errno. */
static int
upload_pdf_spawn(char *path, int out, pid_t *pid)
{
	char				 a0[] = "pdftotext", a1[] = "-q",
					 a2[] = "-enc", a3[] = "UTF-8",
					 a4[] = "-nopgbrk", a6[] = "-";
	char				*argv[] = { a0, a1, a2, a3, a4, path,
					    a6, NULL };
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 sa;
	sigset_t			 none, dfl;
	int				 rv;

	if ((rv = posix_spawn_file_actions_init(&fa)) != 0)
		return (rv);
	if ((rv = posix_spawnattr_init(&sa)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return (rv);
	}
	/* Our threads block SIGPIPE and friends; the child must not. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	if ((rv = posix_spawn_file_actions_adddup2(&fa, out, 1)) == 0 &&
	    (rv = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) == 0 &&
	    (rv = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
	    O_WRONLY, 0)) == 0 &&
	    (rv = posix_spawnattr_setsigmask(&sa, &none)) == 0 &&
	    (rv = posix_spawnattr_setsigdefault(&sa, &dfl)) == 0 &&
	    (rv = posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF)) == 0)
		rv = posix_spawnp(pid, "pdftotext", &fa, &sa, argv, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	return (rv);
}

/*
 * Reads the child's output from fd into b until EOF, UPLOAD_PDF_OUT_MAX
 * bytes (*cut) or the deadline.  0, or -1 on timeout or error.
 */
static int
upload_pdf_read(int fd, struct buf *b, int *cut)
{
	struct pollfd	pfd;
	char		chunk[16384];
	uint64_t	deadline = util_now_ms() + UPLOAD_PDF_TIMEOUT_MS, now;
	size_t		room;
	ssize_t		r;
	int		n;

	for (;;) {
		if ((now = util_now_ms()) >= deadline) {
			log_warnx("pdftotext: no result after %d ms",
			    UPLOAD_PDF_TIMEOUT_MS);
			return (-1);
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((n = poll(&pfd, 1, (int)(deadline - now))) < 0 &&
		    errno != EINTR)
			return (-1);
		if (n <= 0)
			continue;
		if ((r = read(fd, chunk, sizeof(chunk))) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return (-1);
		}
		if (r == 0)
			return (0);
		room = UPLOAD_PDF_OUT_MAX - b->b_len;
		if ((size_t)r >= room) {
			*cut = 1;
			return (buf_add(b, chunk, room) == 0 ? 0 : -1);
		}
		if (buf_add(b, chunk, (size_t)r) != 0)
			return (-1);
	}
}

/*
 * The text of the PDF data[0..len), by pdftotext on a temporary copy
 * (new in *outp, *outlen bytes; *cut when it was longer than we keep).
 * 0, or -1 (logged) when pdftotext could not run or failed.
 */
static int
upload_pdf_text(const unsigned char *data, size_t len, char **outp,
    size_t *outlen, int *cut)
{
	struct buf	 b = BUF_INIT(UPLOAD_PDF_OUT_MAX + 1);
	const char	*tmp = getenv("TMPDIR");
	char		 path[PATH_MAX];
	pid_t		 pid = -1;
	int		 fd, pfd[2] = { -1, -1 }, status, rv, ret = -1;

	*outp = NULL;
	*outlen = 0;
	*cut = 0;
	snprintf(path, sizeof(path), "%s/lf-pdf-XXXXXX",
	    tmp != NULL && *tmp == '/' ? tmp : "/tmp");
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1) {
		log_warn("%s: mkostemp %s", __func__, path);
		return (-1);
	}
	rv = upload_write_all(fd, data, len);
	if (close(fd) != 0 || rv != 0) {
		log_warn("%s: write %s", __func__, path);
		goto done;
	}
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		log_warn("%s: pipe2", __func__);
		goto done;
	}
	rv = upload_pdf_spawn(path, pfd[1], &pid);
	close(pfd[1]);
	pfd[1] = -1;
	if (rv != 0) {
		pid = -1;
		log_warnx("%s: cannot run pdftotext: %s", __func__,
		    strerror(rv));
		goto done;
	}
	rv = upload_pdf_read(pfd[0], &b, cut);
	if (rv != 0 || *cut)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	pid = -1;
	if (rv != 0)
		goto done;
	if (!*cut && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		log_warnx("%s: pdftotext failed (status %d)", __func__,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		goto done;
	}
	*outlen = b.b_len;
	if ((*outp = buf_detach(&b)) != NULL)
		ret = 0;
done:
	if (pfd[0] != -1)
		close(pfd[0]);
	unlink(path);
	buf_release(&b);
	return (ret);
}

static json_t *
upload_pdf_block(const char *name, const unsigned char *data, size_t len)
{
	json_t	*blk;
	char	*text;
	size_t	 n;
	int	 cut;

	if (upload_pdf_text(data, len, &text, &n, &cut) != 0)
		return (upload_text_block("Attached PDF", name, NULL, 0,
		    "(The text of this PDF could not be extracted.)"));
	if (upload_blank((unsigned char *)text, n))
		blk = upload_text_block("Attached PDF", name, NULL, 0,
		    "(No text could be extracted from this PDF: it may be "
		    "scanned or contain only images.)");
	else
		blk = upload_text_block("Attached PDF", name,
		    (unsigned char *)text, n, NULL);
	free(text);
	return (blk);
}

/* ---- blocks ---------------------------------------------------------- */

/* The block for one upload (*blkp, new), or *blkp NULL when it is
 * skipped.  0 or SH_ENOMEM. */
static int
upload_block(const char *fid, const char *name, const char *ctype,
    const char *b64, size_t b64len, json_t **blkp)
{
	unsigned char	*data;
	const char	*mt;
	size_t		 len;
	json_t		*blk = NULL;
	int		 rv;

	*blkp = NULL;
	if ((rv = upload_b64_decode(b64, b64len, &data, &len)) != 0) {
		if (rv == SH_ENOMEM)
			return (rv);
		log_warnx("attachment %s: stored data is not base64; skipped",
		    fid);
		return (0);
	}
	switch (upload_classify(ctype, name)) {
	case UC_IMAGE:
		if ((mt = upload_sniff_image(data, len)) == NULL) {
			log_warnx("attachment %s ('%s', %s) is not a PNG, "
			    "JPEG, GIF or WebP image; skipped", fid, name,
			    ctype);
			break;
		}
		/* The data is ASCII: skip jansson's UTF-8 check. */
		if ((blk = json_pack("{s:s, s:s}", "type", "image",
		    "media_type", mt)) == NULL ||
		    json_object_set_new(blk, "data", json_stringn_nocheck(b64,
		    b64len)) != 0) {
			json_decref(blk);
			blk = NULL;
			rv = SH_ENOMEM;
		}
		break;
	case UC_PDF:
		if ((blk = upload_pdf_block(name, data, len)) == NULL)
			rv = SH_ENOMEM;
		break;
	case UC_TEXT:
		if ((blk = upload_text_block("Attached file", name, data, len,
		    NULL)) == NULL)
			rv = SH_ENOMEM;
		break;
	case UC_NONE:
		log_warnx("attachment %s ('%s', %s) is not an image, a PDF or "
		    "text; skipped", fid, name, ctype);
		break;
	}
	free(data);
	*blkp = blk;
	return (rv);
}

/* Checks the shape of every attachment before anything is loaded. */
static int
upload_attach_check(json_t *attachments, char *err, size_t errlen)
{
	static const char *const opt[] = { "filename", "content_type", NULL };
	const char	*fid;
	json_t		*a, *v;
	size_t		 i, k;

	if (!json_is_array(attachments)) {
		snprintf(err, errlen, "'attachments' must be an array");
		return (SH_EINVAL);
	}
	if (json_array_size(attachments) > UPLOAD_ATTACH_MAX) {
		snprintf(err, errlen, "at most %d attachments per message",
		    UPLOAD_ATTACH_MAX);
		return (SH_EINVAL);
	}
	json_array_foreach(attachments, i, a) {
		if (!json_is_object(a)) {
			snprintf(err, errlen, "attachments[%zu] must be an "
			    "object", i);
			return (SH_EINVAL);
		}
		fid = json_string_value(json_object_get(a, "file_id"));
		if (fid == NULL || !util_uuid_valid(fid)) {
			snprintf(err, errlen, "attachments[%zu]: 'file_id' "
			    "must be the id of an upload", i);
			return (SH_EINVAL);
		}
		for (k = 0; opt[k] != NULL; k++) {
			v = json_object_get(a, opt[k]);
			if (v != NULL && !json_is_string(v) &&
			    !json_is_null(v)) {
				snprintf(err, errlen, "attachments[%zu]: '%s' "
				    "must be a string", i, opt[k]);
				return (SH_EINVAL);
			}
		}
	}
	return (0);
}

int
upload_blocks(struct db *db, const char *agent_id, json_t *attachments,
    json_t *blocks, char *err, size_t errlen)
{
	PGresult	*res;
	json_t		*out, *a, *blk;
	const char	*p[2], *ctype, *given;
	char		 mime[UPLOAD_CTYPE_MAX + 1];
	size_t		 i;
	int		 ret;

	if (attachments == NULL || json_is_null(attachments))
		return (0);
	if ((ret = upload_attach_check(attachments, err, errlen)) != 0)
		return (ret);
	if (agent_id == NULL || !util_uuid_valid(agent_id)) {
		snprintf(err, errlen, "Invalid agent ID");
		return (SH_EINVAL);
	}
	if ((out = json_array()) == NULL)
		return (SH_ENOMEM);
	json_array_foreach(attachments, i, a) {
		p[0] = json_string_value(json_object_get(a, "file_id"));
		p[1] = agent_id;
		if ((res = db_exec(db, SQL_GET_OWNED, 2, p)) == NULL) {
			log_warnx("%s: %s", __func__, db_errmsg(db));
			snprintf(err, errlen, "database unavailable");
			ret = SH_EUNAVAIL;
			goto done;
		}
		if (PQntuples(res) != 1) {
			PQclear(res);
			snprintf(err, errlen, "attachment '%s' not found", p[0]);
			ret = SH_EINVAL;
			goto done;
		}
		/* The stored type wins, unless the upload left it blank. */
		ctype = PQgetvalue(res, 0, 1);
		upload_mime(ctype, mime, sizeof(mime));
		given = json_string_value(json_object_get(a, "content_type"));
		if ((mime[0] == '\0' ||
		    strcmp(mime, "application/octet-stream") == 0) &&
		    given != NULL && *given != '\0')
			ctype = given;
		ret = upload_block(p[0], PQgetvalue(res, 0, 0), ctype,
		    PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2),
		    &blk);
		PQclear(res);
		if (ret != 0)
			goto done;
		if (blk != NULL && json_array_append_new(out, blk) != 0) {
			ret = SH_ENOMEM;
			goto done;
		}
	}
	ret = json_array_extend(blocks, out) == 0 ? 0 : SH_ENOMEM;
done:
	if (ret == SH_ENOMEM)
		snprintf(err, errlen, "out of memory");
	json_decref(out);
	return (ret);
}
