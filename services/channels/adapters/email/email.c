/*
 * email.c - channel-email: mail in over IMAP, replies out over SMTP, on
 * the sidecar protocol (README.md).  Two connections on the library's
 * ad_conn: the IMAP one stays up (the platform session: its loss is
 * ad_platform_down() and the backoff), the SMTP one is opened when a
 * send is queued and closed when the queue is empty.
 *
 * IMAP: greeting, STARTTLS when configured, CAPABILITY, AUTHENTICATE
 * PLAIN (LOGIN when the server has no AUTH=PLAIN), SELECT, then a cycle:
 * UID SEARCH for what is past the last UID delivered, each mail fetched
 * (BODY.PEEK[], bounded), emitted, the UID written to the state file,
 * marked \Seen; then IDLE until the server says EXISTS, or (no IDLE) a
 * pause of EMAIL_POLL_INTERVAL_SECS.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ad_conn.h"
#include "adapter.h"
#include "email.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define EM_TICK_MS		1000
#define EM_CMD_TIMEOUT_MS	60000	/* for a tagged answer or a reply */
/* RFC 2177 asks for less than 29 min; shorter finds a link that died
 * without a FIN (no TCP keepalive here) sooner, at little cost. */
#define EM_IDLE_RENEW_MS	(9 * 60 * 1000)
#define EM_FETCH_MAX		(4 * 1024 * 1024) /* bytes of a mail read */
#define EM_SEARCH_MAX		50	/* mails fetched per cycle */
#define EM_RECENT		64	/* inbound mails kept for replies */
#define EM_SEND_QUEUE_MAX	100
#define EM_SEND_TRIES		3
#define EM_TEXT_MAX		(1024 * 1024)	/* bytes of a send's text */

enum em_sec { EM_SEC_TLS, EM_SEC_STARTTLS, EM_SEC_NONE };

/* What the tagged IMAP command outstanding is. */
enum im_cmd {
	IM_NONE = 0,
	IM_GREETING,	/* no tag: the server's "* OK" */
	IM_STARTTLS,
	IM_CAPABILITY,
	IM_AUTH,
	IM_SELECT,
	IM_SEARCH,
	IM_FETCH,
	IM_STORE,
	IM_IDLE,
	IM_WAIT,	/* nothing outstanding: until the next poll */
};

enum sm_state {
	SM_CLOSED = 0,
	SM_GREETING,
	SM_EHLO,
	SM_STARTTLS,
	SM_AUTH,
	SM_AUTH_USER,	/* AUTH LOGIN sent: the user name asked for next */
	SM_AUTH_NAME,	/* the user name sent: the password asked for next */
	SM_AUTH_PASS,	/* the password sent */
	SM_MAIL,
	SM_RCPT,
	SM_DATA,
	SM_BODY,
	SM_RSET,	/* after a refused mail: the next one follows */
	SM_QUIT,
};

/* A mail waiting for SMTP. */
struct em_send {
	struct em_send	*es_next;
	char		*es_to;
	char		*es_data;	/* dot-stuffed, with the final "." */
	unsigned int	 es_tries;
};

/* An inbound mail a reply may answer. */
struct em_recent {
	char	*er_addr;
	char	*er_message_id;
	char	*er_subject;
	char	*er_references;
	char	*er_thread;
};

struct em {
	/* configuration */
	const char	*em_imap_host;
	long long	 em_imap_port;
	enum em_sec	 em_imap_sec;
	const char	*em_imap_user;
	const char	*em_imap_pass;
	const char	*em_smtp_host;
	long long	 em_smtp_port;
	enum em_sec	 em_smtp_sec;
	const char	*em_smtp_user;
	const char	*em_smtp_pass;
	const char	*em_from;
	const char	*em_folder;
	const char	*em_subject;
	char		**em_allowed;
	long long	 em_poll_ms;
	int		 em_verify;
	const char	*em_ca_file;
	char		 em_state_path[1024];
	/* IMAP */
	struct ad	*em_ad;
	struct ad_conn	 em_imap;
	int		 em_imap_fd;	/* watched, or -1 */
	enum im_cmd	 em_cmd;
	unsigned int	 em_tagn;
	char		 em_tag[16];
	uint64_t	 em_cmd_at;
	int		 em_dead;
	int		 em_go_tls;	/* STARTTLS answered OK */
	int		 em_cap_idle;
	int		 em_cap_plain;
	int		 em_cap_logindisabled;
	int		 em_idling;	/* "+ idling" seen */
	int		 em_done_sent;
	int		 em_more;	/* EXISTS while busy: search again */
	uint64_t	 em_next_poll;
	unsigned long long em_uidvalidity;	/* the folder's now */
	unsigned long long em_saved_validity;	/* the state file's */
	unsigned long long em_last_uid;		/* delivered up to */
	int		 em_have_state;
	unsigned long long em_uids[EM_SEARCH_MAX];
	int		 em_nuids;
	int		 em_iuid;
	unsigned long long em_fetch_uid;
	char		*em_body;	/* the literal being read */
	size_t		 em_body_len;
	size_t		 em_lit_left;	/* bytes of it still to come */
	/* SMTP */
	struct ad_conn	 em_smtp;
	int		 em_smtp_fd;
	enum sm_state	 em_sm;
	int		 em_sm_tls;	/* STARTTLS done */
	int		 em_sm_go_tls;
	int		 em_sm_cap_tls;
	int		 em_sm_cap_plain;
	int		 em_sm_cap_login;
	int		 em_sm_fail;	/* the session failed: close it */
	uint64_t	 em_sm_at;
	uint64_t	 em_sm_retry_at;
	struct em_send	*em_q;
	struct em_send	**em_qtail;
	size_t		 em_qlen;
	/* inbound mails, newest at em_rnext - 1 */
	struct em_recent em_recent[EM_RECENT];
	unsigned int	 em_rnext;
};

static const char *const em_sec_opts[] = { "tls", "starttls", "none",
    NULL };

static const struct ad_field em_fields[] = {
	{ "EMAIL_IMAP_HOST", "IMAP server", AD_FIELD_TEXT, 1,
	    "imap.example.com", 0, NULL, NULL },
	{ "EMAIL_SMTP_HOST", "SMTP server", AD_FIELD_TEXT, 1,
	    "smtp.example.com", 0, NULL, NULL },
	{ "EMAIL_USERNAME", "Account", AD_FIELD_TEXT, 1, "bot@example.com", 0,
	    NULL, NULL },
	{ "EMAIL_PASSWORD", "Password", AD_FIELD_SECRET, 1, NULL, 0, NULL,
	    NULL },
	{ "EMAIL_FROM", "From address", AD_FIELD_TEXT, 0,
	    "the account when it is an address", 0, NULL, NULL },
	{ "EMAIL_IMAP_PORT", "IMAP port", AD_FIELD_NUMBER, 0,
	    "993 (143 with STARTTLS or none)", 1, NULL, NULL },
	{ "EMAIL_IMAP_SECURITY", "IMAP security", AD_FIELD_SELECT, 0, NULL, 1,
	    em_sec_opts, "tls" },
	{ "EMAIL_SMTP_PORT", "SMTP port", AD_FIELD_NUMBER, 0,
	    "587 (465 with TLS, 25 with none)", 1, NULL, NULL },
	{ "EMAIL_SMTP_SECURITY", "SMTP security", AD_FIELD_SELECT, 0, NULL, 1,
	    em_sec_opts, "starttls" },
	{ "EMAIL_IMAP_USERNAME", "IMAP account (if not the account)",
	    AD_FIELD_TEXT, 0, NULL, 1, NULL, NULL },
	{ "EMAIL_IMAP_PASSWORD", "IMAP password (if not the password)",
	    AD_FIELD_SECRET, 0, NULL, 1, NULL, NULL },
	{ "EMAIL_SMTP_USERNAME", "SMTP account (if not the account)",
	    AD_FIELD_TEXT, 0, NULL, 1, NULL, NULL },
	{ "EMAIL_SMTP_PASSWORD", "SMTP password (if not the password)",
	    AD_FIELD_SECRET, 0, NULL, 1, NULL, NULL },
	{ "EMAIL_FOLDER", "Folder", AD_FIELD_TEXT, 0, "INBOX", 1, NULL,
	    "INBOX" },
	{ "EMAIL_ALLOWED_SENDERS", "Allowed senders", AD_FIELD_LIST, 0,
	    "alice@example.com,@example.org", 1, NULL, NULL },
	{ "EMAIL_POLL_INTERVAL_SECS", "Poll every (s) without IDLE",
	    AD_FIELD_NUMBER, 0, "30", 1, NULL, "30" },
	{ "EMAIL_SUBJECT", "Subject of a mail that answers none",
	    AD_FIELD_TEXT, 0, NULL, 1, NULL, "Message from LibreFang" },
	{ "EMAIL_TLS_ROOT_CA_PATH", "CA certificates (PEM file)",
	    AD_FIELD_TEXT, 0, "/etc/ssl/certs/ca-certificates.crt", 1, NULL,
	    NULL },
	{ "EMAIL_TLS_ACCEPT_INVALID_CERTS", "Accept any certificate",
	    AD_FIELD_BOOL, 0, NULL, 1, NULL, "0" },
	{ "EMAIL_STATE_DIR", "State directory (the last mail seen)",
	    AD_FIELD_TEXT, 0, "the working directory", 1, NULL, "." },
	{ NULL, NULL, 0, 0, NULL, 0, NULL, NULL }
};

/* Plain-text send only: mail has no typing, reactions or streams. */
static const char *const em_caps[] = { NULL };

/* ---- the state file: the last UID delivered -------------------------- */

static void
em_state_load(struct em *e)
{
	FILE	*f;

	e->em_have_state = 0;
	if ((f = fopen(e->em_state_path, "r")) == NULL) {
		if (errno != ENOENT)
			log_warn("%s: could not read '%s'", __func__,
			    e->em_state_path);
		return;
	}
	if (fscanf(f, "%llu %llu", &e->em_saved_validity,
	    &e->em_last_uid) == 2)
		e->em_have_state = 1;
	else
		log_warnx("%s: '%s' is not a state file; starting over",
		    __func__, e->em_state_path);
	fclose(f);
}

/* Written to a temporary file and renamed over: a crash leaves the old
 * state or the new, never half of one. */
static int
em_state_save(struct em *e)
{
	char	 tmp[1100];
	FILE	*f;
	int	 rv = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", e->em_state_path);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s: could not write '%s'", __func__, tmp);
		return (-1);
	}
	fprintf(f, "%llu %llu\n", e->em_uidvalidity, e->em_last_uid);
	if (fflush(f) == 0 && fsync(fileno(f)) == 0)
		rv = 0;
	if (fclose(f) != 0)
		rv = -1;
	if (rv == 0 && rename(tmp, e->em_state_path) != 0) {
		log_warn("%s: could not rename '%s'", __func__, tmp);
		rv = -1;
	}
	e->em_saved_validity = e->em_uidvalidity;
	e->em_have_state = 1;
	return (rv);
}

/* ---- inbound ---------------------------------------------------------- */

static int
em_sender_allowed(struct em *e, const char *addr)
{
	const char	*at;
	size_t		 i;

	if (e->em_allowed[0] == NULL)
		return (1);
	at = strrchr(addr, '@');
	for (i = 0; e->em_allowed[i] != NULL; i++) {
		if (strcasecmp(e->em_allowed[i], addr) == 0)
			return (1);
		if (e->em_allowed[i][0] == '@' && at != NULL &&
		    strcasecmp(e->em_allowed[i], at) == 0)
			return (1);
	}
	return (0);
}

static void
em_recent_clear(struct em_recent *r)
{
	free(r->er_addr);
	free(r->er_message_id);
	free(r->er_subject);
	free(r->er_references);
	free(r->er_thread);
	memset(r, 0, sizeof(*r));
}

/* Remembers an inbound mail, for the reply's subject and threading. */
static void
em_remember(struct em *e, const struct em_mail *m, const char *thread)
{
	struct em_recent *r = &e->em_recent[e->em_rnext % EM_RECENT];

	em_recent_clear(r);
	r->er_addr = strdup(m->em_from_addr);
	r->er_message_id = m->em_message_id ? strdup(m->em_message_id) : NULL;
	r->er_subject = m->em_subject ? strdup(m->em_subject) : NULL;
	r->er_references = m->em_references ? strdup(m->em_references) :
	    NULL;
	r->er_thread = thread ? strdup(thread) : NULL;
	e->em_rnext++;
}

/* The newest inbound mail of thread (or from addr when thread is
 * NULL or unknown), or NULL. */
static const struct em_recent *
em_recall(struct em *e, const char *addr, const char *thread)
{
	const struct em_recent	*r;
	unsigned int		 i;

	for (i = 1; thread != NULL && i <= EM_RECENT; i++) {
		r = &e->em_recent[(e->em_rnext - i) % EM_RECENT];
		if (r->er_addr != NULL && ((r->er_thread != NULL &&
		    strcmp(r->er_thread, thread) == 0) ||
		    (r->er_message_id != NULL &&
		    strcmp(r->er_message_id, thread) == 0)))
			return (r);
	}
	for (i = 1; i <= EM_RECENT; i++) {
		r = &e->em_recent[(e->em_rnext - i) % EM_RECENT];
		if (r->er_addr != NULL && strcasecmp(r->er_addr, addr) == 0)
			return (r);
	}
	return (NULL);
}

static void
em_deliver(struct em *e, const char *raw, size_t n)
{
	struct em_mail	 m;
	struct ad_msg	 am;
	json_t		*content = NULL, *meta = NULL;
	char		*thread = NULL;

	if (em_parse(raw, n, &m) != 0) {
		log_warnx("%s: could not read mail %llu: out of memory",
		    __func__, e->em_fetch_uid);
		return;
	}
	if (m.em_from_addr == NULL) {
		log_warnx("%s: mail %llu has no sender; skipped", __func__,
		    e->em_fetch_uid);
		goto done;
	}
	/* Our own mail (a copy of a reply), and an auto-reply (RFC 3834),
	 * would start a loop. */
	if (strcasecmp(m.em_from_addr, e->em_from) == 0 || m.em_auto ||
	    !em_sender_allowed(e, m.em_from_addr)) {
		log_info("email: mail %llu from '%s' skipped", e->em_fetch_uid,
		    m.em_from_addr);
		goto done;
	}
	thread = em_thread_root(m.em_references, m.em_in_reply_to,
	    m.em_message_id);
	if ((content = ad_content_from_text(m.em_text)) == NULL ||
	    (meta = json_pack("{s:s?, s:s?, s:s?, s:I}", "subject",
	    m.em_subject, "in_reply_to", m.em_in_reply_to, "references",
	    m.em_references, "imap_uid", (json_int_t)e->em_fetch_uid)) ==
	    NULL)
		goto done;
	memset(&am, 0, sizeof(am));
	am.am_user_id = m.em_from_addr;
	am.am_user_name = m.em_from_name ? m.em_from_name : m.em_from_addr;
	am.am_username = m.em_from_addr;
	am.am_text = m.em_text;
	am.am_content = content;
	am.am_channel_id = m.em_from_addr;	/* a reply goes back there */
	am.am_platform = "email";
	am.am_message_id = m.em_message_id;
	am.am_thread_id = thread;
	am.am_metadata = meta;
	em_remember(e, &m, thread);
	ad_emit(e->em_ad, ad_ev_message(&am));
 done:
	json_decref(content);
	json_decref(meta);
	free(thread);
	em_mail_free(&m);
}

/* ---- IMAP ------------------------------------------------------------- */

static void
em_imap_cmd(struct em *e, enum im_cmd cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
em_imap_cmd(struct em *e, enum im_cmd cmd, const char *fmt, ...)
{
	char	line[2048];
	va_list	ap;
	int	n, t;

	snprintf(e->em_tag, sizeof(e->em_tag), "a%u", ++e->em_tagn);
	t = snprintf(line, sizeof(line), "%s ", e->em_tag);
	va_start(ap, fmt);
	n = vsnprintf(line + t, sizeof(line) - (size_t)t - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)(n + t) > sizeof(line) - 3) {
		log_warnx("%s: could not make a command", __func__);
		e->em_dead = 1;
		return;
	}
	memcpy(line + t + n, "\r\n", 2);
	if (ad_conn_write(&e->em_imap, line, (size_t)(t + n) + 2) != 0) {
		e->em_dead = 1;
		return;
	}
	explicit_bzero(line, sizeof(line));
	e->em_cmd = cmd;
	e->em_cmd_at = util_now_ms();
}

static void
em_imap_raw(struct em *e, const char *s)
{
	if (ad_conn_write(&e->em_imap, s, strlen(s)) != 0)
		e->em_dead = 1;
}

/* Ends IDLE; the server's tagged answer is due from now. */
static void
em_imap_done(struct em *e)
{
	if (e->em_done_sent)
		return;
	em_imap_raw(e, "DONE\r\n");
	e->em_done_sent = 1;
	e->em_cmd_at = util_now_ms();
}

static void
em_imap_caps(struct em *e, const char *s)
{
	char	 buf[2048], *w, *save;

	snprintf(buf, sizeof(buf), "%s", s);
	e->em_cap_idle = e->em_cap_plain = e->em_cap_logindisabled = 0;
	for (w = strtok_r(buf, " ]", &save); w != NULL;
	    w = strtok_r(NULL, " ]", &save)) {
		if (strcasecmp(w, "IDLE") == 0)
			e->em_cap_idle = 1;
		else if (strcasecmp(w, "AUTH=PLAIN") == 0)
			e->em_cap_plain = 1;
		else if (strcasecmp(w, "LOGINDISABLED") == 0)
			e->em_cap_logindisabled = 1;
	}
}

static void
em_imap_login(struct em *e)
{
	char	u[600], p[600];

	if (e->em_cap_plain) {
		em_imap_cmd(e, IM_AUTH, "AUTHENTICATE PLAIN");
		return;
	}
	if (e->em_cap_logindisabled) {
		ad_error(e->em_ad, "email: the IMAP server allows no login "
		    "without TLS (set EMAIL_IMAP_SECURITY)");
		e->em_dead = 1;
		return;
	}
	if (em_imap_quote(e->em_imap_user, u, sizeof(u)) != 0 ||
	    em_imap_quote(e->em_imap_pass, p, sizeof(p)) != 0) {
		ad_error(e->em_ad, "email: the IMAP account or password "
		    "cannot be sent with LOGIN");
		e->em_dead = 1;
		return;
	}
	em_imap_cmd(e, IM_AUTH, "LOGIN %s %s", u, p);
	explicit_bzero(p, sizeof(p));
}

/* The AUTHENTICATE PLAIN response: authzid empty, authcid, password. */
static void
em_imap_plain(struct em *e)
{
	unsigned char	 raw[1100], b64[1500];
	size_t		 u = strlen(e->em_imap_user);
	size_t		 p = strlen(e->em_imap_pass);
	int		 n;

	if (u + p + 2 > sizeof(raw)) {
		em_imap_raw(e, "*\r\n");
		return;
	}
	raw[0] = '\0';
	memcpy(raw + 1, e->em_imap_user, u);
	raw[u + 1] = '\0';
	memcpy(raw + u + 2, e->em_imap_pass, p);
	n = EVP_EncodeBlock(b64, raw, (int)(u + p + 2));
	memcpy(b64 + n, "\r\n", 3);
	em_imap_raw(e, (const char *)b64);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b64, sizeof(b64));
}

static void
em_imap_search(struct em *e)
{
	e->em_nuids = e->em_iuid = 0;
	e->em_more = 0;
	/* A new folder (or one whose UIDs were renumbered) starts from
	 * its unseen mail, not from all of it. */
	if (!e->em_have_state || e->em_saved_validity != e->em_uidvalidity)
		em_imap_cmd(e, IM_SEARCH, "UID SEARCH UNSEEN");
	else
		em_imap_cmd(e, IM_SEARCH, "UID SEARCH UID %llu:*",
		    e->em_last_uid + 1);
}

/* The next mail of the search, or IDLE (or the wait for the next poll)
 * when none is left. */
static void
em_imap_next(struct em *e)
{
	if (e->em_iuid < e->em_nuids) {
		e->em_fetch_uid = e->em_uids[e->em_iuid++];
		free(e->em_body);
		e->em_body = NULL;
		e->em_body_len = 0;
		em_imap_cmd(e, IM_FETCH,
		    "UID FETCH %llu (UID BODY.PEEK[]<0.%d>)", e->em_fetch_uid,
		    EM_FETCH_MAX);
		return;
	}
	if (e->em_more || e->em_nuids == EM_SEARCH_MAX) {
		em_imap_search(e);
		return;
	}
	if (e->em_cap_idle) {
		e->em_idling = e->em_done_sent = 0;
		em_imap_cmd(e, IM_IDLE, "IDLE");
		return;
	}
	e->em_cmd = IM_WAIT;
	e->em_next_poll = util_now_ms() + (uint64_t)e->em_poll_ms;
}

/* The untagged "* SEARCH 1 2 3": the UIDs past the last delivered, in
 * order, at most EM_SEARCH_MAX. */
static void
em_imap_on_search(struct em *e, const char *list)
{
	unsigned long long	 u;
	char			*end;
	int			 i, j;

	while (*list != '\0') {
		u = strtoull(list, &end, 10);
		if (end == list)
			break;
		list = end;
		while (*list == ' ')
			list++;
		if (e->em_have_state && e->em_saved_validity ==
		    e->em_uidvalidity && u <= e->em_last_uid)
			continue;	/* "n:*" always has the last one */
		if (e->em_nuids == EM_SEARCH_MAX)
			continue;
		for (i = 0; i < e->em_nuids && e->em_uids[i] < u; i++)
			;
		if (i < e->em_nuids && e->em_uids[i] == u)
			continue;
		for (j = e->em_nuids; j > i; j--)
			e->em_uids[j] = e->em_uids[j - 1];
		e->em_uids[i] = u;
		e->em_nuids++;
	}
}

static void	em_imap_tagged(struct em *e, const char *status,
		    const char *text);

static void
em_imap_untagged(struct em *e, const char *l)
{
	const char	*p;
	long long	 lit;
	size_t		 n = strlen(l);

	if ((p = strstr(l, "[CAPABILITY ")) != NULL)
		em_imap_caps(e, p + 12);
	if (strncasecmp(l, "* CAPABILITY ", 13) == 0)
		em_imap_caps(e, l + 13);
	else if (strncasecmp(l, "* SEARCH", 8) == 0)
		em_imap_on_search(e, l + 8);
	else if (strncasecmp(l, "* OK [UIDVALIDITY ", 18) == 0)
		e->em_uidvalidity = strtoull(l + 18, NULL, 10);
	else if (strncasecmp(l, "* BYE", 5) == 0) {
		if (e->em_cmd != IM_AUTH)
			log_warnx("email: the IMAP server says: %s", l);
		e->em_dead = 1;
	} else if (e->em_cmd == IM_GREETING &&
	    strncasecmp(l, "* PREAUTH", 9) == 0) {
		/* Logged in already (a local or pre-authenticated link):
		 * as after a login. */
		e->em_cmd = IM_AUTH;
		em_imap_tagged(e, "OK", "PREAUTH");
	} else if (e->em_cmd == IM_GREETING && strncasecmp(l, "* OK", 4) == 0) {
		if (e->em_imap_sec == EM_SEC_STARTTLS)
			em_imap_cmd(e, IM_STARTTLS, "STARTTLS");
		else
			em_imap_cmd(e, IM_CAPABILITY, "CAPABILITY");
	} else if (n > 7 && strcasecmp(l + n - 7, " EXISTS") == 0) {
		/* New mail.  In IDLE: leave it to look; else look again
		 * once this cycle is done. */
		if (e->em_cmd == IM_IDLE && e->em_idling)
			em_imap_done(e);
		e->em_more = 1;
	} else if (strstr(l, " FETCH ") != NULL && e->em_cmd == IM_FETCH &&
	    (lit = em_imap_literal(l, n)) >= 0 &&
	    em_imap_num_after(l, "UID") == e->em_fetch_uid) {
		/* We asked for EM_FETCH_MAX bytes at most. */
		if (lit > EM_FETCH_MAX) {
			log_warnx("email: the server sends %lld bytes for "
			    "%d asked", lit, EM_FETCH_MAX);
			e->em_dead = 1;
			return;
		}
		if ((e->em_body = malloc((size_t)lit + 1)) == NULL) {
			e->em_dead = 1;
			return;
		}
		e->em_body_len = 0;
		e->em_lit_left = (size_t)lit;
		ad_conn_raw(&e->em_imap, (size_t)lit);
	} else if (strstr(l, " FETCH ") != NULL &&
	    (lit = em_imap_literal(l, n)) >= 0) {
		/* Not the one asked for (unsolicited): read past it. */
		e->em_body_len = 0;
		free(e->em_body);
		e->em_body = NULL;
		e->em_lit_left = (size_t)lit;
		ad_conn_raw(&e->em_imap, (size_t)lit);
	}
}

static void
em_imap_tagged(struct em *e, const char *status, const char *text)
{
	int	ok = strncasecmp(status, "OK", 2) == 0;

	switch (e->em_cmd) {
	case IM_STARTTLS:
		if (!ok) {
			ad_error(e->em_ad, "email: the IMAP server refused "
			    "STARTTLS: %s", text);
			e->em_dead = 1;
			break;
		}
		e->em_go_tls = 1;
		break;
	case IM_CAPABILITY:
		em_imap_login(e);
		break;
	case IM_AUTH:
		if (!ok) {
			ad_error(e->em_ad, "email: the IMAP server refused the "
			    "login of '%s': %s", e->em_imap_user, text);
			e->em_dead = 1;
			break;
		}
		log_info("email: logged in to '%s' as '%s'", e->em_imap_host,
		    e->em_imap_user);
		ad_platform_up(e->em_ad);
		{
			char	f[600];

			if (em_imap_quote(e->em_folder, f, sizeof(f)) != 0) {
				e->em_dead = 1;
				break;
			}
			e->em_uidvalidity = 0;
			em_imap_cmd(e, IM_SELECT, "SELECT %s", f);
		}
		break;
	case IM_SELECT:
		if (!ok) {
			ad_error(e->em_ad, "email: could not open folder '%s': "
			    "%s", e->em_folder, text);
			e->em_dead = 1;
			break;
		}
		if (!e->em_cap_idle)
			log_info("email: '%s' has no IDLE: polling every "
			    "%lld s", e->em_imap_host, e->em_poll_ms / 1000);
		em_imap_search(e);
		break;
	case IM_SEARCH:
		if (!ok) {
			ad_error(e->em_ad, "email: the search failed: %s",
			    text);
			e->em_dead = 1;
			break;
		}
		em_imap_next(e);
		break;
	case IM_FETCH:
		if (ok && e->em_body != NULL) {
			em_deliver(e, e->em_body, e->em_body_len);
			/* Delivered: remembered before it is marked, so a
			 * crash between the two re-delivers nothing. */
			if (e->em_fetch_uid > e->em_last_uid ||
			    e->em_saved_validity != e->em_uidvalidity)
				e->em_last_uid = e->em_fetch_uid;
			(void)em_state_save(e);
			em_imap_cmd(e, IM_STORE,
			    "UID STORE %llu +FLAGS.SILENT (\\Seen)",
			    e->em_fetch_uid);
			break;
		}
		/* Gone meanwhile (expunged): on to the next. */
		em_imap_next(e);
		break;
	case IM_STORE:
		em_imap_next(e);
		break;
	case IM_IDLE:
		em_imap_search(e);
		break;
	default:
		break;
	}
}

static void
em_imap_on_line(void *arg, const char *line, size_t len)
{
	struct em	*e = arg;
	char		 buf[AD_CONN_LINE_MAX + 1], *sp, *st;

	if (e->em_lit_left > 0) {
		/* A piece of the literal (ad_conn_raw()). */
		if (e->em_body != NULL) {
			memcpy(e->em_body + e->em_body_len, line, len);
			e->em_body_len += len;
			e->em_body[e->em_body_len] = '\0';
		}
		e->em_lit_left -= len;
		return;
	}
	if (e->em_dead || e->em_go_tls || len > AD_CONN_LINE_MAX)
		return;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (buf[0] == '*') {
		em_imap_untagged(e, buf);
		return;
	}
	if (buf[0] == '+') {
		if (e->em_cmd == IM_AUTH)
			em_imap_plain(e);
		else if (e->em_cmd == IM_IDLE) {
			e->em_idling = 1;
			/* Mail that came between the search and now. */
			if (e->em_more)
				em_imap_done(e);
		}
		return;
	}
	if ((sp = strchr(buf, ' ')) == NULL)
		return;
	*sp = '\0';
	if (strcmp(buf, e->em_tag) != 0)
		return;
	st = sp + 1;
	if ((sp = strchr(st, ' ')) != NULL)
		*sp++ = '\0';
	else
		sp = st + strlen(st);
	em_imap_tagged(e, st, sp);
}

static void
em_imap_rewatch(struct em *e)
{
	int	fd = ad_conn_fd(&e->em_imap);

	if (e->em_imap_fd != fd) {
		ad_watch(e->em_ad, e->em_imap_fd, 0);
		e->em_imap_fd = fd;
	}
	ad_watch(e->em_ad, fd, ad_conn_events(&e->em_imap));
}

static void
em_imap_drop(struct em *e, const char *why)
{
	ad_watch(e->em_ad, e->em_imap_fd, 0);
	e->em_imap_fd = -1;
	ad_conn_close(&e->em_imap);
	e->em_cmd = IM_NONE;
	e->em_dead = e->em_go_tls = 0;
	e->em_lit_left = 0;
	free(e->em_body);
	e->em_body = NULL;
	ad_platform_down(e->em_ad, why);
	/* ad_platform_down() forgets every fd: SMTP's too. */
	if (e->em_smtp_fd >= 0)
		ad_watch(e->em_ad, e->em_smtp_fd, ad_conn_events(&e->em_smtp));
}

static int
em_sec_flags(struct em *e, enum em_sec sec)
{
	int	flags = 0;

	if (sec == EM_SEC_TLS)
		flags |= AD_CONN_TLS;
	if (!e->em_verify)
		flags |= AD_CONN_NOVERIFY;
	if (ad_allow_loopback(e->em_ad))
		flags |= AD_CONN_ALLOW_PRIVATE;
	return (flags);
}

static int
em_connect(struct ad *a)
{
	struct em	*e = ad_arg(a);
	char		 err[256];

	if (ad_conn_open(&e->em_imap, e->em_imap_host, (int)e->em_imap_port,
	    em_sec_flags(e, e->em_imap_sec), e->em_ca_file, err,
	    sizeof(err)) != 0) {
		ad_error(a, "email: IMAP: %s", err);
		return (-1);
	}
	e->em_cmd = IM_GREETING;
	e->em_cmd_at = util_now_ms();
	e->em_dead = e->em_go_tls = 0;
	e->em_cap_idle = e->em_cap_plain = e->em_cap_logindisabled = 0;
	e->em_lit_left = 0;
	em_imap_rewatch(e);
	ad_timer(a, util_now_ms() + EM_TICK_MS);
	log_info("email: connecting to IMAP '%s:%lld'", e->em_imap_host,
	    e->em_imap_port);
	return (0);
}

/* ---- SMTP ------------------------------------------------------------- */

static void
em_smtp_line(struct em *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
em_smtp_line(struct em *e, const char *fmt, ...)
{
	char	line[2048];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > sizeof(line) - 3) {
		e->em_sm_fail = 1;
		return;
	}
	memcpy(line + n, "\r\n", 2);
	if (ad_conn_write(&e->em_smtp, line, (size_t)n + 2) != 0)
		e->em_sm_fail = 1;
	explicit_bzero(line, sizeof(line));
	e->em_sm_at = util_now_ms();
}

static void
em_smtp_b64(struct em *e, const char *s, size_t n)
{
	unsigned char	b64[1500];

	if (n > 1024) {
		e->em_sm_fail = 1;
		return;
	}
	EVP_EncodeBlock(b64, (const unsigned char *)s, (int)n);
	em_smtp_line(e, "%s", (const char *)b64);
	explicit_bzero(b64, sizeof(b64));
}

static void
em_send_free(struct em_send *s)
{
	free(s->es_to);
	free(s->es_data);
	free(s);
}

/* The head of the queue is done with (sent, or given up). */
static void
em_send_pop(struct em *e)
{
	struct em_send	*s = e->em_q;

	if (s == NULL)
		return;
	if ((e->em_q = s->es_next) == NULL)
		e->em_qtail = &e->em_q;
	e->em_qlen--;
	em_send_free(s);
}

static void
em_smtp_start(struct em *e)
{
	char	err[256];

	if (ad_conn_open(&e->em_smtp, e->em_smtp_host, (int)e->em_smtp_port,
	    em_sec_flags(e, e->em_smtp_sec), e->em_ca_file, err,
	    sizeof(err)) != 0) {
		ad_error(e->em_ad, "email: SMTP: %s", err);
		e->em_sm_fail = 1;
		return;
	}
	e->em_sm = SM_GREETING;
	e->em_sm_at = util_now_ms();
	e->em_sm_tls = e->em_smtp_sec == EM_SEC_TLS;
	e->em_sm_go_tls = e->em_sm_fail = 0;
	e->em_smtp_fd = ad_conn_fd(&e->em_smtp);
	ad_watch(e->em_ad, e->em_smtp_fd, ad_conn_events(&e->em_smtp));
	ad_timer(e->em_ad, util_now_ms() + EM_TICK_MS);
}

/* Closes the SMTP session; a failure counts against the mail at the
 * head of the queue, retried later, given up after EM_SEND_TRIES. */
static void
em_smtp_close(struct em *e, int failed)
{
	ad_watch(e->em_ad, e->em_smtp_fd, 0);
	e->em_smtp_fd = -1;
	if (e->em_sm != SM_CLOSED && e->em_smtp.co_state == AD_CONN_UP &&
	    !failed) {
		em_smtp_line(e, "QUIT");
		ad_conn_flush(&e->em_smtp);
	}
	ad_conn_close(&e->em_smtp);
	e->em_sm = SM_CLOSED;
	e->em_sm_fail = 0;
	if (failed && e->em_q != NULL &&
	    ++e->em_q->es_tries >= EM_SEND_TRIES) {
		ad_error(e->em_ad, "email: gave up sending to '%s' after %d "
		    "tries", e->em_q->es_to, EM_SEND_TRIES);
		em_send_pop(e);
	}
	e->em_sm_retry_at = failed ? util_now_ms() +
	    ad_backoff_ms(e->em_q ? e->em_q->es_tries : 0) : 0;
}

static void
em_smtp_mail(struct em *e)
{
	if (e->em_q == NULL) {
		e->em_sm = SM_QUIT;
		em_smtp_line(e, "QUIT");
		return;
	}
	e->em_sm = SM_MAIL;
	em_smtp_line(e, "MAIL FROM:<%s>", e->em_from);
}

static void
em_smtp_auth(struct em *e)
{
	char	raw[1100];
	size_t	u = strlen(e->em_smtp_user), p = strlen(e->em_smtp_pass);

	if (e->em_smtp_sec != EM_SEC_NONE && !e->em_sm_tls) {
		if (!e->em_sm_cap_tls) {
			ad_error(e->em_ad, "email: the SMTP server offers no "
			    "STARTTLS; not sending the password in clear");
			e->em_sm_fail = 1;
			return;
		}
		e->em_sm = SM_STARTTLS;
		em_smtp_line(e, "STARTTLS");
		return;
	}
	if (e->em_sm_cap_plain && u + p + 2 <= sizeof(raw)) {
		raw[0] = '\0';
		memcpy(raw + 1, e->em_smtp_user, u);
		raw[u + 1] = '\0';
		memcpy(raw + u + 2, e->em_smtp_pass, p);
		e->em_sm = SM_AUTH;
		{
			unsigned char b64[1500];

			EVP_EncodeBlock(b64, (unsigned char *)raw,
			    (int)(u + p + 2));
			em_smtp_line(e, "AUTH PLAIN %s", (const char *)b64);
			explicit_bzero(b64, sizeof(b64));
		}
		explicit_bzero(raw, sizeof(raw));
	} else if (e->em_sm_cap_login) {
		e->em_sm = SM_AUTH_USER;
		em_smtp_line(e, "AUTH LOGIN");
	} else {
		/* No AUTH offered: a relay that trusts us (or none). */
		em_smtp_mail(e);
	}
}

/* A complete reply (its last line): code and text. */
static void
em_smtp_reply(struct em *e, int code, const char *text)
{
	struct em_send	*s = e->em_q;

	switch (e->em_sm) {
	case SM_GREETING:
		if (code != 220)
			goto refused;
		e->em_sm = SM_EHLO;
		e->em_sm_cap_tls = e->em_sm_cap_plain = e->em_sm_cap_login = 0;
		em_smtp_line(e, "EHLO librefang");
		break;
	case SM_EHLO:
		if (code != 250)
			goto refused;
		em_smtp_auth(e);
		break;
	case SM_STARTTLS:
		if (code != 220)
			goto refused;
		e->em_sm_go_tls = 1;
		break;
	case SM_AUTH:
	case SM_AUTH_PASS:
		if (code != 235) {
			ad_error(e->em_ad, "email: the SMTP server refused the "
			    "login of '%s': %d %s", e->em_smtp_user, code,
			    text);
			e->em_sm_fail = 1;
			break;
		}
		em_smtp_mail(e);
		break;
	case SM_AUTH_USER:
		if (code != 334)
			goto refused;
		e->em_sm = SM_AUTH_NAME;
		em_smtp_b64(e, e->em_smtp_user, strlen(e->em_smtp_user));
		break;
	case SM_AUTH_NAME:
		if (code != 334)
			goto refused;
		e->em_sm = SM_AUTH_PASS;
		em_smtp_b64(e, e->em_smtp_pass, strlen(e->em_smtp_pass));
		break;
	case SM_MAIL:
		if (code != 250)
			goto rejected;
		e->em_sm = SM_RCPT;
		em_smtp_line(e, "RCPT TO:<%s>", s->es_to);
		break;
	case SM_RCPT:
		if (code != 250 && code != 251)
			goto rejected;
		e->em_sm = SM_DATA;
		em_smtp_line(e, "DATA");
		break;
	case SM_DATA:
		if (code != 354)
			goto rejected;
		e->em_sm = SM_BODY;
		if (ad_conn_write(&e->em_smtp, s->es_data,
		    strlen(s->es_data)) != 0)
			e->em_sm_fail = 1;
		e->em_sm_at = util_now_ms();
		break;
	case SM_BODY:
		if (code != 250)
			goto rejected;
		log_info("email: sent a mail to '%s'", s->es_to);
		em_send_pop(e);
		em_smtp_mail(e);
		break;
	case SM_RSET:
		if (code != 250)
			goto refused;
		em_smtp_mail(e);
		break;
	default:
		break;
	}
	return;
 refused:
	ad_error(e->em_ad, "email: the SMTP server said %d %s", code, text);
	e->em_sm_fail = 1;
	return;
 rejected:
	/* This mail will not go (a 5xx): said, dropped, on to the next.
	 * A 4xx is the server's trouble for now: tried again later. */
	ad_error(e->em_ad, "email: the SMTP server refused the mail to '%s': "
	    "%d %s", s->es_to, code, text);
	if (code >= 500) {
		em_send_pop(e);
		e->em_sm = SM_RSET;
		em_smtp_line(e, "RSET");
		return;
	}
	e->em_sm_fail = 1;
}

static void
em_smtp_on_line(void *arg, const char *line, size_t len)
{
	struct em	*e = arg;
	char		 buf[1024];
	int		 code;

	if (e->em_sm_go_tls || e->em_sm_fail)
		return;
	if (len < 3 || len >= sizeof(buf))
		return;
	memcpy(buf, line, len);
	buf[len] = '\0';
	/* A reply code is three digits; anything else reads as 0. */
	code = 0;
	if (isdigit((unsigned char)buf[0]) && isdigit((unsigned char)buf[1]) &&
	    isdigit((unsigned char)buf[2]))
		code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');
	log_debug("email: smtp< %s", buf);
	if (e->em_sm == SM_EHLO && len > 4) {
		if (strncasecmp(buf + 4, "STARTTLS", 8) == 0)
			e->em_sm_cap_tls = 1;
		else if (strncasecmp(buf + 4, "AUTH", 4) == 0) {
			if (strcasestr(buf + 8, "PLAIN") != NULL)
				e->em_sm_cap_plain = 1;
			if (strcasestr(buf + 8, "LOGIN") != NULL)
				e->em_sm_cap_login = 1;
		}
	}
	if (len > 3 && buf[3] == '-')
		return;		/* more lines of the reply follow */
	em_smtp_reply(e, code, len > 4 ? buf + 4 : "");
}

static void
em_smtp_io(struct em *e, int revents)
{
	char	err[256];

	if (ad_conn_io(&e->em_smtp, revents, em_smtp_on_line, e, err,
	    sizeof(err)) != 0) {
		if (e->em_sm != SM_QUIT) {
			ad_error(e->em_ad, "email: SMTP: %s", err);
			em_smtp_close(e, 1);
		} else
			em_smtp_close(e, 0);
		return;
	}
	if (e->em_sm_go_tls) {
		e->em_sm_go_tls = 0;
		if (ad_conn_starttls(&e->em_smtp, em_sec_flags(e,
		    EM_SEC_STARTTLS), e->em_ca_file, err, sizeof(err)) != 0) {
			ad_error(e->em_ad, "email: SMTP: %s", err);
			em_smtp_close(e, 1);
			return;
		}
		e->em_sm_tls = 1;
		e->em_sm = SM_EHLO;
		e->em_sm_cap_tls = e->em_sm_cap_plain = e->em_sm_cap_login = 0;
		em_smtp_line(e, "EHLO librefang");
	}
	if (e->em_sm_fail) {
		em_smtp_close(e, 1);
		return;
	}
	if (e->em_sm == SM_QUIT && e->em_smtp.co_outlen == 0) {
		em_smtp_close(e, 0);
		return;
	}
	e->em_smtp_fd = ad_conn_fd(&e->em_smtp);
	ad_watch(e->em_ad, e->em_smtp_fd, ad_conn_events(&e->em_smtp));
}

/* An RFC 5322 date, now. */
static void
em_date(char *out, size_t len)
{
	time_t		t = time(NULL);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static void
em_send(struct em *e, const struct ad_cmd *c)
{
	const struct em_recent	*r;
	struct em_out		 o;
	struct em_send		*s = NULL;
	char			 date[64], mid[160], uuid[UTIL_UUID_LEN];
	char			*subj = NULL, *refs = NULL, *msg = NULL;
	const char		*dom;
	size_t			 n;

	if (!em_addr_ok(c->ac_channel_id)) {
		ad_error(e->em_ad, "email: cannot send to '%.64s': not an "
		    "address", c->ac_channel_id);
		return;
	}
	if (strlen(c->ac_text) > EM_TEXT_MAX) {
		ad_error(e->em_ad, "email: a text of %zu bytes is past the "
		    "limit of %d", strlen(c->ac_text), EM_TEXT_MAX);
		return;
	}
	if (e->em_qlen >= EM_SEND_QUEUE_MAX) {
		ad_error(e->em_ad, "email: could not queue a mail to '%s': "
		    "%zu wait already", c->ac_channel_id, e->em_qlen);
		return;
	}
	r = em_recall(e, c->ac_channel_id, c->ac_thread_id);
	memset(&o, 0, sizeof(o));
	if (r != NULL) {
		subj = em_reply_subject(r->er_subject);
		o.eo_in_reply_to = r->er_message_id;
		if (r->er_message_id != NULL) {
			n = (r->er_references ? strlen(r->er_references) : 0) +
			    strlen(r->er_message_id) + 2;
			if ((refs = malloc(n)) != NULL)
				snprintf(refs, n, "%s%s%s", r->er_references ?
				    r->er_references : "", r->er_references ?
				    " " : "", r->er_message_id);
		}
	} else {
		subj = strdup(e->em_subject);
		/* A thread we have no mail of (a restart): still threaded. */
		if (c->ac_thread_id != NULL && c->ac_thread_id[0] == '<' &&
		    strchr(c->ac_thread_id, '>') != NULL) {
			o.eo_in_reply_to = c->ac_thread_id;
			refs = strdup(c->ac_thread_id);
		}
	}
	o.eo_references = refs;
	util_uuid4(uuid);
	dom = strrchr(e->em_from, '@');
	snprintf(mid, sizeof(mid), "<%s%s>", uuid, dom ? dom : "@librefang");
	em_date(date, sizeof(date));
	o.eo_from = e->em_from;
	o.eo_to = c->ac_channel_id;
	o.eo_subject = subj != NULL ? subj : "";
	o.eo_message_id = mid;
	o.eo_date = date;
	o.eo_text = c->ac_text;
	if (subj == NULL || (msg = em_build(&o)) == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL ||
	    (s->es_to = strdup(c->ac_channel_id)) == NULL ||
	    (s->es_data = em_dot_stuff(msg)) == NULL) {
		ad_error(e->em_ad, "email: could not make a mail: out of "
		    "memory");
		if (s != NULL)
			em_send_free(s);
		goto done;
	}
	*e->em_qtail = s;
	e->em_qtail = &s->es_next;
	e->em_qlen++;
	if (e->em_sm == SM_CLOSED && e->em_sm_retry_at == 0)
		em_smtp_start(e);
	if (e->em_sm_fail)
		em_smtp_close(e, 1);
 done:
	free(subj);
	free(refs);
	free(msg);
}

/* ---- the adapter's callbacks ------------------------------------------ */

static void
em_io(struct ad *a, int fd, int revents)
{
	struct em	*e = ad_arg(a);
	char		 err[256];

	if (fd == e->em_smtp_fd && fd >= 0) {
		em_smtp_io(e, revents);
		return;
	}
	if (ad_conn_io(&e->em_imap, revents, em_imap_on_line, e, err,
	    sizeof(err)) != 0) {
		em_imap_drop(e, err);
		return;
	}
	if (e->em_go_tls) {
		e->em_go_tls = 0;
		if (ad_conn_starttls(&e->em_imap, em_sec_flags(e,
		    EM_SEC_STARTTLS), e->em_ca_file, err, sizeof(err)) != 0) {
			em_imap_drop(e, err);
			return;
		}
		em_imap_cmd(e, IM_CAPABILITY, "CAPABILITY");
	}
	if (e->em_dead) {
		em_imap_drop(e, "the IMAP session ended");
		return;
	}
	em_imap_rewatch(e);
}

static void
em_tick(struct ad *a)
{
	struct em	*e = ad_arg(a);
	uint64_t	 now = util_now_ms();

	/* SMTP: a stalled session, a retry that is due. */
	if (e->em_sm != SM_CLOSED && now - e->em_sm_at > EM_CMD_TIMEOUT_MS) {
		ad_error(e->em_ad, "email: the SMTP server did not answer in "
		    "time");
		em_smtp_close(e, 1);
	}
	if (e->em_sm == SM_CLOSED && e->em_q != NULL &&
	    now >= e->em_sm_retry_at) {
		e->em_sm_retry_at = 0;
		em_smtp_start(e);
		if (e->em_sm_fail)
			em_smtp_close(e, 1);
	}
	if (ad_conn_fd(&e->em_imap) >= 0) {
		if (e->em_cmd == IM_WAIT && now >= e->em_next_poll)
			em_imap_search(e);
		else if (e->em_cmd == IM_IDLE && e->em_idling &&
		    !e->em_done_sent &&
		    now - e->em_cmd_at > EM_IDLE_RENEW_MS) {
			em_imap_done(e);
		} else if (e->em_cmd != IM_WAIT && (e->em_cmd != IM_IDLE ||
		    e->em_done_sent || !e->em_idling) &&
		    now - e->em_cmd_at > EM_CMD_TIMEOUT_MS) {
			em_imap_drop(e, "the IMAP server did not answer in "
			    "time");
		}
		if (ad_conn_fd(&e->em_imap) >= 0) {
			if (e->em_dead)
				em_imap_drop(e, "the IMAP session ended");
			else
				em_imap_rewatch(e);
		}
	}
	ad_timer(a, now + EM_TICK_MS);
}

static void
em_command(struct ad *a, const struct ad_cmd *c)
{
	struct em	*e = ad_arg(a);

	switch (c->ac_type) {
	case AD_CMD_SEND:
		em_send(e, c);
		break;
	default:
		log_debug("email: '%s' ignored", c->ac_method);
		break;
	}
}

static void
em_stop(struct ad *a)
{
	struct em	*e = ad_arg(a);

	if (e->em_imap.co_state == AD_CONN_UP) {
		if (e->em_cmd == IM_IDLE && e->em_idling && !e->em_done_sent)
			em_imap_raw(e, "DONE\r\n");
		em_imap_raw(e, "z LOGOUT\r\n");
		ad_conn_flush(&e->em_imap);
	}
	ad_conn_close(&e->em_imap);
	if (e->em_q != NULL)
		log_warnx("email: %zu mails not sent at shutdown", e->em_qlen);
	if (e->em_smtp.co_state == AD_CONN_UP && e->em_sm != SM_CLOSED) {
		em_smtp_line(e, "QUIT");
		ad_conn_flush(&e->em_smtp);
	}
	ad_conn_close(&e->em_smtp);
}

static int
em_sec(const char *key, enum em_sec *out)
{
	const char	*v = ad_conf(key);

	if (strcmp(v, "tls") == 0)
		*out = EM_SEC_TLS;
	else if (strcmp(v, "starttls") == 0)
		*out = EM_SEC_STARTTLS;
	else if (strcmp(v, "none") == 0)
		*out = EM_SEC_NONE;
	else {
		log_warnx("%s: %s '%s' is not one of tls, starttls, none",
		    __func__, key, v);
		return (-1);
	}
	return (0);
}

static const char *
em_conf_or(const char *key, const char *dflt)
{
	const char	*v = ad_conf(key);

	return (v != NULL ? v : dflt);
}

static int
em_init(struct ad *a)
{
	struct em	*e = ad_arg(a);
	const char	*user, *pass, *dir;
	char		 safe[256];
	size_t		 i;

	e->em_ad = a;
	e->em_imap_host = ad_conf("EMAIL_IMAP_HOST");
	e->em_smtp_host = ad_conf("EMAIL_SMTP_HOST");
	user = ad_conf("EMAIL_USERNAME");
	pass = ad_conf("EMAIL_PASSWORD");
	if (e->em_imap_host == NULL || e->em_smtp_host == NULL ||
	    user == NULL || pass == NULL) {
		log_warnx("%s: EMAIL_IMAP_HOST, EMAIL_SMTP_HOST, "
		    "EMAIL_USERNAME and EMAIL_PASSWORD are required",
		    __func__);
		return (-1);
	}
	e->em_imap_user = em_conf_or("EMAIL_IMAP_USERNAME", user);
	e->em_imap_pass = em_conf_or("EMAIL_IMAP_PASSWORD", pass);
	e->em_smtp_user = em_conf_or("EMAIL_SMTP_USERNAME", user);
	e->em_smtp_pass = em_conf_or("EMAIL_SMTP_PASSWORD", pass);
	log_add_secret(pass);
	log_add_secret(e->em_imap_pass);
	log_add_secret(e->em_smtp_pass);
	e->em_from = em_conf_or("EMAIL_FROM", user);
	if (!em_addr_ok(e->em_from)) {
		log_warnx("%s: EMAIL_FROM '%s' is not an address (the "
		    "account is not one: set EMAIL_FROM)", __func__,
		    e->em_from);
		return (-1);
	}
	if (em_sec("EMAIL_IMAP_SECURITY", &e->em_imap_sec) != 0 ||
	    em_sec("EMAIL_SMTP_SECURITY", &e->em_smtp_sec) != 0)
		return (-1);
	e->em_imap_port = e->em_imap_sec == EM_SEC_TLS ? 993 : 143;
	e->em_smtp_port = e->em_smtp_sec == EM_SEC_TLS ? 465 :
	    e->em_smtp_sec == EM_SEC_STARTTLS ? 587 : 25;
	if ((ad_conf("EMAIL_IMAP_PORT") != NULL &&
	    ad_conf_num("EMAIL_IMAP_PORT", 1, 65535, &e->em_imap_port) != 0) ||
	    (ad_conf("EMAIL_SMTP_PORT") != NULL &&
	    ad_conf_num("EMAIL_SMTP_PORT", 1, 65535, &e->em_smtp_port) != 0))
		return (-1);
	if (ad_conf_num("EMAIL_POLL_INTERVAL_SECS", 1, 86400,
	    &e->em_poll_ms) != 0)
		return (-1);
	e->em_poll_ms *= 1000;
	e->em_folder = ad_conf("EMAIL_FOLDER");
	e->em_subject = ad_conf("EMAIL_SUBJECT");
	e->em_verify = !ad_conf_bool("EMAIL_TLS_ACCEPT_INVALID_CERTS");
	e->em_ca_file = ad_conf("EMAIL_TLS_ROOT_CA_PATH");
	if ((e->em_allowed = ad_conf_list("EMAIL_ALLOWED_SENDERS")) == NULL)
		return (-1);
	/* One state file per account and folder, in the state directory. */
	dir = ad_conf("EMAIL_STATE_DIR");
	snprintf(safe, sizeof(safe), "%s-%s", e->em_imap_user, e->em_folder);
	for (i = 0; safe[i] != '\0'; i++)
		if (!(safe[i] >= 'a' && safe[i] <= 'z') &&
		    !(safe[i] >= 'A' && safe[i] <= 'Z') &&
		    !(safe[i] >= '0' && safe[i] <= '9') && safe[i] != '.' &&
		    safe[i] != '@' && safe[i] != '-')
			safe[i] = '_';
	if ((size_t)snprintf(e->em_state_path, sizeof(e->em_state_path),
	    "%s/email-%s.state", dir, safe) >= sizeof(e->em_state_path)) {
		log_warnx("%s: EMAIL_STATE_DIR is too long", __func__);
		return (-1);
	}
	em_state_load(e);
	return (0);
}

static const struct ad_def em_def = {
	.ad_name = "email",
	.ad_display_name = "Email",
	.ad_description = "Mail in over IMAP (IDLE, or polling), replies "
	    "out over SMTP with STARTTLS and AUTH, threaded with In-Reply-To "
	    "and References.",
	.ad_env = "EMAIL",
	.ad_fields = em_fields,
	.ad_capabilities = em_caps,
	.ad_init = em_init,
	.ad_connect = em_connect,
	.ad_io = em_io,
	.ad_tick = em_tick,
	.ad_command = em_command,
	.ad_stop = em_stop,
};

int
main(int argc, char **argv)
{
	struct em	e;
	int		rv;
	size_t		i;

	memset(&e, 0, sizeof(e));
	e.em_qtail = &e.em_q;
	e.em_imap_fd = e.em_smtp_fd = -1;
	ad_conn_init(&e.em_imap);
	ad_conn_init(&e.em_smtp);
	rv = ad_main(&em_def, &e, argc, argv);
	ad_conn_close(&e.em_imap);
	ad_conn_close(&e.em_smtp);
	while (e.em_q != NULL)
		em_send_pop(&e);
	for (i = 0; i < EM_RECENT; i++)
		em_recent_clear(&e.em_recent[i]);
	free(e.em_body);
	ad_list_free(e.em_allowed);
	return (rv);
}
