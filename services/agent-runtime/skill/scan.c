/*
 * skill/scan.c - the security scan of a skill's text (notes/extensions.md
 * 1.4): a table of lower-case literal patterns, each with its severity,
 * plus key-shaped secrets, curl or wget lines piped to a shell, invisible
 * characters and size.
 *
 * Literal matching is what the reference does and what the notes list;
 * it is cheap (a skill is scanned when it comes in, never per turn) and
 * its false positives are visible in the findings, so an author can
 * rephrase.  Invisible characters are how a pattern hides ("ig\u200bnore
 * previous ..."), hence the variants: without them, with them made
 * spaces, and for multi-word patterns without any whitespace at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "skill/skill.h"

#define SCAN_SIZE_INFO	50000	/* bytes past which a text is noted */
#define SCAN_KEY_TAIL	12	/* characters after a key prefix */

enum scan_cat {
	C_INJECT, C_EXFIL, C_RSHELL, C_PERSIST, C_OBFUSC, C_SUPPLY,
	C_REDIRECT, C_TAMPER, W_EXFIL, W_DESTROY, W_PRIV, W_SECRET
};

static const struct {
	const char	*severity;
	const char	*prefix;
} cats[] = {
	[C_INJECT] = { "Critical", "Prompt injection detected: contains" },
	[C_EXFIL] = { "Critical", "Data exfiltration pattern:" },
	[C_RSHELL] = { "Critical", "Reverse shell pattern:" },
	[C_PERSIST] = { "Critical", "Persistence mechanism:" },
	[C_OBFUSC] = { "Critical", "Obfuscated execution pattern:" },
	[C_SUPPLY] = { "Critical", "Supply chain attack pattern:" },
	[C_REDIRECT] = { "Critical", "Skill documents shell-redirection file "
	    "write (bypasses file_write approval):" },
	[C_TAMPER] = { "Critical", "Agent config tampering:" },
	[W_EXFIL] = { "Warning", "Potential data exfiltration:" },
	[W_DESTROY] = { "Warning", "Destructive operation:" },
	[W_PRIV] = { "Warning", "Privilege escalation:" },
	[W_SECRET] = { "Warning", "Possible hardcoded secret:" },
};

static const struct {
	enum scan_cat	 cat;
	const char	*pat;
} pats[] = {
	{ C_INJECT, "ignore previous instructions" },
	{ C_INJECT, "ignore all previous" },
	{ C_INJECT, "disregard previous" },
	{ C_INJECT, "forget your instructions" },
	{ C_INJECT, "you are now" },
	{ C_INJECT, "new instructions:" },
	{ C_INJECT, "system prompt override" },
	{ C_INJECT, "ignore the above" },
	{ C_INJECT, "do not follow" },
	{ C_INJECT, "override system" },
	{ C_INJECT, "disregard your" },
	{ C_INJECT, "act as if" },
	{ C_INJECT, "pretend you are" },
	{ C_INJECT, "do not tell the user" },
	{ C_INJECT, "dan mode" },
	{ C_INJECT, "developer mode" },
	{ C_INJECT, "jailbreak" },
	{ C_INJECT, "hypothetical scenario where you bypass" },
	{ C_INJECT, "when no one is watching" },
	{ C_INJECT, "in secret" },
	{ C_INJECT, "without telling the user" },
	{ C_INJECT, "hidden instruction" },
	{ C_EXFIL, "cat .env" },
	{ C_EXFIL, "cat ~/.ssh" },
	{ C_EXFIL, "cat ~/.aws" },
	{ C_EXFIL, "printenv |" },
	{ C_EXFIL, "printenv >" },
	{ C_EXFIL, "os.environ[" },
	{ C_EXFIL, "process.env." },
	{ C_EXFIL, "send conversation history" },
	{ C_EXFIL, "forward the entire chat" },
	{ C_RSHELL, "/bin/bash -i" },
	{ C_RSHELL, "/dev/tcp/" },
	{ C_RSHELL, "nc -l" },
	{ C_RSHELL, "nc -e" },
	{ C_RSHELL, "ncat " },
	{ C_RSHELL, "mkfifo" },
	{ C_RSHELL, "bash -c 'exec" },
	{ C_PERSIST, "crontab" },
	{ C_PERSIST, ".bashrc" },
	{ C_PERSIST, ".zshrc" },
	{ C_PERSIST, ".profile" },
	{ C_PERSIST, "systemctl enable" },
	{ C_PERSIST, "launchctl load" },
	{ C_PERSIST, "ssh-keygen" },
	{ C_PERSIST, "authorized_keys" },
	{ C_PERSIST, "sudoers" },
	{ C_PERSIST, "nopasswd" },
	{ C_OBFUSC, "base64 -d" },
	{ C_OBFUSC, "base64 --decode" },
	{ C_OBFUSC, "eval(" },
	{ C_OBFUSC, "exec(" },
	{ C_OBFUSC, "echo | bash" },
	{ C_OBFUSC, "echo | sh" },
	{ C_OBFUSC, "python -c" },
	{ C_OBFUSC, "python3 -c" },
	{ C_OBFUSC, "compile(" },
	{ C_SUPPLY, "curl | sh" },
	{ C_SUPPLY, "curl | bash" },
	{ C_SUPPLY, "wget | sh" },
	{ C_SUPPLY, "wget | bash" },
	{ C_SUPPLY, "pip install --" },
	{ C_SUPPLY, "npm install --" },
	{ C_SUPPLY, "uv run " },
	{ C_REDIRECT, "cat > /" },
	{ C_REDIRECT, "cat >> /" },
	{ C_REDIRECT, "cat >/" },
	{ C_REDIRECT, "cat >>/" },
	{ C_REDIRECT, " > /etc/" },
	{ C_REDIRECT, " > /home/" },
	{ C_REDIRECT, " > /root/" },
	{ C_REDIRECT, " > /tmp/" },
	{ C_REDIRECT, " > /var/" },
	{ C_REDIRECT, "echo > /" },
	{ C_REDIRECT, "echo >> /" },
	{ C_REDIRECT, "printf > /" },
	{ C_REDIRECT, "printf >> /" },
	{ C_REDIRECT, " | tee /" },
	{ C_REDIRECT, " | tee -a /" },
	{ C_REDIRECT, "<<eof >" },
	{ C_REDIRECT, "<< eof >" },
	{ C_REDIRECT, "<<'eof' >" },
	{ C_REDIRECT, "<< 'eof' >" },
	{ W_EXFIL, "send to http" },
	{ W_EXFIL, "post to http" },
	{ W_EXFIL, "exfiltrate" },
	{ W_EXFIL, "forward all" },
	{ W_EXFIL, "send all data" },
	{ W_EXFIL, "base64 encode and send" },
	{ W_EXFIL, "upload to" },
	{ W_EXFIL, "webhook.site" },
	{ W_EXFIL, "requestbin" },
	{ W_EXFIL, "pastebin" },
	{ W_EXFIL, "ngrok" },
	{ W_EXFIL, "localtunnel" },
	{ W_EXFIL, "cloudflared" },
	{ W_DESTROY, "rm -rf /" },
	{ W_DESTROY, "rm -rf ~" },
	{ W_DESTROY, "rm -rf ." },
	{ W_DESTROY, "mkfs" },
	{ W_DESTROY, "dd if=" },
	{ W_DESTROY, "chmod 777" },
	{ W_DESTROY, "chmod -r 777" },
	{ W_DESTROY, "> /etc/" },
	{ W_DESTROY, "truncate -s 0" },
	{ W_DESTROY, "shred " },
	{ W_PRIV, "sudo " },
	{ W_PRIV, "setuid" },
	{ W_PRIV, "setgid" },
	{ W_PRIV, "chmod u+s" },
	{ W_PRIV, "chmod g+s" },
	{ W_SECRET, "api_key" },
	{ W_SECRET, "apikey" },
	{ W_SECRET, "secret_key" },
	{ W_SECRET, "private_key" },
	{ W_SECRET, "-----begin rsa" },
	{ W_SECRET, "-----begin openssh" },
	{ W_SECRET, "-----begin private" },
};
#define NPATS	(sizeof(pats) / sizeof(pats[0]))

/* Secrets by their prefix: only at a token's start, and followed by at
 * least SCAN_KEY_TAIL key characters of which one is a digit. */
static const char *const key_prefixes[] = {
	"sk-", "ghp_", "gho_", "github_pat_", "xoxb-", "xoxp-", "akia", NULL
};

/* "Write agents.md" and the like: a verb and a file an agent obeys. */
static const char *const tamper_verbs[] = {
	"write", "modify", "overwrite", "append to", "edit", NULL
};
static const char *const tamper_files[] = {
	"agents.md", "claude.md", ".cursorrules", "soul.md", "config.yaml",
	"config.toml", NULL
};

/* A curl or wget line piped into one of these is a remote script run. */
static const char *const shell_pipes[] = {
	"| bash", "| sh", "|bash", "|sh", "| zsh", "| /bin/bash", "| /bin/sh",
	NULL
};

static const struct {
	unsigned int	 lo, hi;
	const char	*name;
	int		 info;	/* emoji sequences use it: Info, not Warning */
} invisibles[] = {
	{ 0x00ad, 0x00ad, "soft hyphen", 0 },
	{ 0x034f, 0x034f, "combining grapheme joiner", 0 },
	{ 0x061c, 0x061c, "arabic letter mark", 0 },
	{ 0x115f, 0x1160, "hangul filler", 0 },
	{ 0x17b4, 0x17b5, "khmer inherent vowel", 0 },
	{ 0x180e, 0x180e, "mongolian vowel separator", 0 },
	{ 0x200b, 0x200b, "zero width space", 0 },
	{ 0x200c, 0x200c, "zero width non-joiner", 0 },
	{ 0x200d, 0x200d, "zero width joiner", 1 },
	{ 0x200e, 0x200f, "directional mark", 0 },
	{ 0x202a, 0x202e, "bidirectional embedding or override", 0 },
	{ 0x2060, 0x2060, "word joiner", 0 },
	{ 0x2061, 0x2064, "invisible operator", 0 },
	{ 0x2066, 0x2069, "bidirectional isolate", 0 },
	{ 0x3164, 0x3164, "hangul filler", 0 },
	{ 0xfe00, 0xfe0f, "variation selector", 1 },
	{ 0xfeff, 0xfeff, "zero width no-break space", 0 },
	{ 0xffa0, 0xffa0, "halfwidth hangul filler", 0 },
};
#define NINVIS	(sizeof(invisibles) / sizeof(invisibles[0]))

/* The code point at s (n bytes left) and its length; a bad byte is
 * itself, length 1. */
static unsigned int
utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	unsigned int	c = s[0];
	size_t		k, i;

	*len = 1;
	if (c < 0x80)
		return (c);
	k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	if (k == 0 || k > n)
		return (c);
	c &= 0xff >> (k + 1);
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (s[0]);
		c = (c << 6) | (s[i] & 0x3f);
	}
	*len = k;
	return (c);
}

/* The invisibles[] index of c, or -1. */
static int
invisible(unsigned int c)
{
	size_t	i;

	if (c < 0xad)
		return (-1);
	for (i = 0; i < NINVIS; i++)
		if (c >= invisibles[i].lo && c <= invisibles[i].hi)
			return ((int)i);
	return (-1);
}

static int
add(json_t *findings, const char *severity, const char *where,
    const char *prefix, const char *what)
{
	char	msg[512];

	snprintf(msg, sizeof(msg), "%s '%s'", prefix, what);
	return (json_array_append_new(findings, json_pack("{s:s, s:s, s:s?}",
	    "severity", severity, "message", msg, "where", where)));
}

/* 1 if the key prefix p occurs in low at a token start with a key-like
 * tail. */
static int
key_found(const char *low, const char *p)
{
	const char	*h, *t;
	size_t		 n = strlen(p), k;
	int		 digit;

	for (h = strstr(low, p); h != NULL; h = strstr(h + 1, p)) {
		if (h > low && (h[-1] == '_' || (h[-1] >= 'a' && h[-1] <= 'z')
		    || (h[-1] >= '0' && h[-1] <= '9')))
			continue;
		digit = 0;
		for (t = h + n, k = 0; (*t >= 'a' && *t <= 'z') || (*t >= '0' &&
		    *t <= '9') || *t == '_' || *t == '-'; t++, k++)
			digit |= *t >= '0' && *t <= '9';
		if (k >= SCAN_KEY_TAIL && digit)
			return (1);
	}
	return (0);
}

/* 1 if a line of low fetches with curl or wget into a shell. */
static int
pipe_line_found(const char *low)
{
	const char	*l, *nl;
	char		*line;
	size_t		 n;
	int		 i, hit = 0;

	for (l = low; *l != '\0' && !hit; l = nl + (*nl != '\0')) {
		nl = l + strcspn(l, "\n");
		n = (size_t)(nl - l);
		if ((line = strndup(l, n)) == NULL)
			return (0);
		if (strstr(line, "curl ") || strstr(line, "curl\t") ||
		    strstr(line, "wget ") || strstr(line, "wget\t"))
			for (i = 0; shell_pipes[i] != NULL && !hit; i++)
				hit = strstr(line, shell_pipes[i]) != NULL;
		free(line);
	}
	return (hit);
}

/* s without spaces (new). */
static char *
squeeze(const char *s)
{
	char	*out = malloc(strlen(s) + 1), *o = out;

	if (out == NULL)
		return (NULL);
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			*o++ = *s;
	*o = '\0';
	return (out);
}

int
skill_scan_text(const char *text, const char *where, json_t *findings)
{
	const unsigned char	*s = (const unsigned char *)text;
	size_t			 n = strlen(text), i, k, len;
	char			*low, *del, *sp, *comp, *pc, *d, *p, *c;
	char			 pat[64];
	unsigned char		 seen[NINVIS], hit[NPATS];
	unsigned int		 cp;
	int			 inv = 0, crit = 0, ix, j, m;

	memset(seen, 0, sizeof(seen));
	memset(hit, 0, sizeof(hit));
	low = malloc(n + 1);
	del = malloc(n + 1);
	sp = malloc(n + 1);
	comp = malloc(n + 1);
	if (low == NULL || del == NULL || sp == NULL || comp == NULL)
		goto nomem;
	/* The variants: lowercased; invisibles deleted; made spaces;
	 * invisibles and whitespace deleted. */
	d = del;
	p = sp;
	c = comp;
	for (i = 0; i < n; i += len) {
		cp = utf8_next(s + i, n - i, &len);
		if ((ix = invisible(cp)) >= 0) {
			inv = 1;
			*p++ = ' ';
			if (!seen[ix]) {
				char	msg[128];

				seen[ix] = 1;
				snprintf(msg, sizeof(msg), "Invisible unicode "
				    "character detected: %s (U+%04X)",
				    invisibles[ix].name, cp);
				if (json_array_append_new(findings, json_pack(
				    "{s:s, s:s, s:s?}", "severity",
				    invisibles[ix].info ? "Info" : "Warning",
				    "message", msg, "where", where)) != 0)
					goto nomem;
			}
			continue;
		}
		for (k = 0; k < len; k++) {
			char	ch = (char)s[i + k];

			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			*d++ = *p++ = ch;
			if (ch != ' ' && ch != '\t' && ch != '\n' &&
			    ch != '\r')
				*c++ = ch;
		}
	}
	*d = *p = *c = '\0';
	/* Without invisibles, the deleted variant is the text lowercased. */
	if (inv)
		for (i = 0; i < n; i++)
			low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ?
			    s[i] - 'A' + 'a' : s[i]);
	else
		memcpy(low, del, (size_t)(d - del));
	low[inv ? n : (size_t)(d - del)] = '\0';
	for (i = 0; i < NPATS; i++) {
		if (strstr(low, pats[i].pat) || (inv && (strstr(del,
		    pats[i].pat) || strstr(sp, pats[i].pat))))
			hit[i] = 1;
		else if (inv && strchr(pats[i].pat, ' ') != NULL) {
			if ((pc = squeeze(pats[i].pat)) == NULL)
				goto nomem;
			hit[i] = *pc != '\0' && strstr(comp, pc) != NULL;
			free(pc);
			pc = NULL;
		}
		if (hit[i]) {
			if (add(findings, cats[pats[i].cat].severity, where,
			    cats[pats[i].cat].prefix, pats[i].pat) != 0)
				goto nomem;
			crit += cats[pats[i].cat].severity[0] == 'C';
		}
	}
	for (j = 0; tamper_verbs[j] != NULL; j++)
		for (m = 0; tamper_files[m] != NULL; m++) {
			snprintf(pat, sizeof(pat), "%s %s", tamper_verbs[j],
			    tamper_files[m]);
			if (strstr(low, pat) == NULL && (!inv || (strstr(sp,
			    pat) == NULL && strstr(del, pat) == NULL)))
				continue;
			if (add(findings, "Critical", where,
			    cats[C_TAMPER].prefix, pat) != 0)
				goto nomem;
			crit++;
		}
	for (j = 0; key_prefixes[j] != NULL; j++)
		if (key_found(inv ? del : low, key_prefixes[j])) {
			if (add(findings, "Warning", where,
			    cats[W_SECRET].prefix, key_prefixes[j]) != 0)
				goto nomem;
		}
	if (pipe_line_found(inv ? del : low)) {
		if (add(findings, "Critical", where, cats[C_SUPPLY].prefix,
		    "curl or wget piped to a shell") != 0)
			goto nomem;
		crit++;
	}
	if (n > SCAN_SIZE_INFO) {
		char	size[32];

		snprintf(size, sizeof(size), "%zu bytes", n);
		if (add(findings, "Info", where, "Content is over 50000 bytes:",
		    size) != 0)
			goto nomem;
	}
	free(low);
	free(del);
	free(sp);
	free(comp);
	return (crit);
 nomem:
	free(low);
	free(del);
	free(sp);
	free(comp);
	return (-1);
}

char *
skill_strip_invisible(const char *text)
{
	const unsigned char	*s = (const unsigned char *)text;
	size_t			 n = strlen(text), i, len;
	char			*out = malloc(n + 1), *o = out;
	int			 ix;

	if (out == NULL)
		return (NULL);
	for (i = 0; i < n; i += len) {
		ix = invisible(utf8_next(s + i, n - i, &len));
		if (ix >= 0 && !invisibles[ix].info)
			continue;
		memcpy(o, s + i, len);
		o += len;
	}
	*o = '\0';
	return (out);
}

/* 1 if path names a text the supply-chain rule scans. */
static int
scanned_file(const char *path)
{
	const char	*dot = strrchr(path, '.');

	return (dot != NULL && (strcmp(dot, ".md") == 0 || strcmp(dot,
	    ".toml") == 0 || strcmp(dot, ".prompt") == 0));
}

int
skill_scan(json_t *manifest, const char *prompt, json_t *files,
    json_t *findings)
{
	json_t		*t, *v;
	const char	*s, *path;
	char		 where[SKILL_PATH_MAX + 32];
	size_t		 i;
	int		 crit = 0, r;

#define SCAN(text, w) do {						\
		if ((r = skill_scan_text((text), (w), findings)) < 0)	\
			return (-1);					\
		crit += r;						\
	} while (0)

	if ((s = json_string_value(json_object_get(json_object_get(manifest,
	    "skill"), "description"))) != NULL)
		SCAN(s, "description");
	if (prompt != NULL)
		SCAN(prompt, "prompt context");
	json_array_foreach(json_object_get(json_object_get(manifest, "tools"),
	    "provided"), i, t) {
		snprintf(where, sizeof(where), "tools.provided[%zu]", i);
		if ((s = json_string_value(json_object_get(t, "name"))) != NULL)
			SCAN(s, where);
		if ((s = json_string_value(json_object_get(t,
		    "description"))) != NULL)
			SCAN(s, where);
	}
	json_object_foreach(files, path, v)
		if (scanned_file(path) && json_is_string(v)) {
			snprintf(where, sizeof(where), "file '%s'", path);
			SCAN(json_string_value(v), where);
		}
#undef SCAN
	return (crit);
}

char *
skill_findings_text(json_t *findings, const char *severity)
{
	struct buf	 b = BUF_INIT(64 * 1024);
	json_t		*f;
	const char	*w;
	size_t		 i;

	json_array_foreach(findings, i, f) {
		if (severity != NULL && strcmp(severity, json_string_value(
		    json_object_get(f, "severity")) ?: "") != 0)
			continue;
		if (b.b_len > 0)
			(void)buf_adds(&b, "; ");
		if ((w = json_string_value(json_object_get(f, "where"))) !=
		    NULL)
			(void)buf_addf(&b, "%s: ", w);
		(void)buf_adds(&b, json_string_value(json_object_get(f,
		    "message")) ?: "");
	}
	if (b.b_data == NULL)
		return (strdup(""));
	return (buf_detach(&b));
}
