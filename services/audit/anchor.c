/*
 * anchor.c - the external anchor file of kernel.md 5 step 4.
 *
 * The chain proves that no entry was changed in place, but not that its
 * newest entries were not cut off and head moved back with them: whoever
 * can write the database can do both.  The anchor is a copy of head kept
 * outside the database, one line "<next_seq> <tip_hash>\n", rewritten
 * after every committed append (a tmp file, then rename: a reader sees
 * the old line or the new one).  Verify compares it with head and fails
 * closed: a missing, unreadable or different file is an error.
 *
 * The count is next_seq, the number of entries ever chained, not the
 * rows left after a retention trim: it only grows, so writers racing
 * after their commits (workers, replicas on this host) keep the
 * greatest under a lock file, and the file never goes backwards.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"

#define ANCHOR_LINE_MAX	128
#define ANCHOR_TRIES	20		/* verify's re-reads, 10 ms apart */

/* The file's line into *next and tip; 0, or -1 with err set. */
static int
anchor_read(const char *path, long long *next, char tip[AUDIT_HASH_HEX],
    char *err, size_t errlen)
{
	char	 line[ANCHOR_LINE_MAX];
	FILE	*f;
	size_t	 n;
	int	 end = 0;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "could not read the anchor file: %s",
		    strerror(errno));
		return (-1);
	}
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	if (sscanf(line, "%lld %64[0-9a-f]%n", next, tip, &end) != 2 ||
	    *next < 0 || strlen(tip) != 64 || strcmp(line + end, "\n") != 0) {
		snprintf(err, errlen, "the anchor file is not one line "
		    "'<entries> <tip_hash>'");
		return (-1);
	}
	return (0);
}

static void
anchor_put(long long next, const char *tip, int force)
{
	const char	*path = audit_conf.ac_anchor;
	char		 lock[sizeof(audit_conf.ac_anchor) + 8];
	char		 tmp[sizeof(audit_conf.ac_anchor) + 8];
	char		 cur[AUDIT_HASH_HEX], err[128], line[ANCHOR_LINE_MAX];
	long long	 have;
	int		 lfd = -1, fd, n, ok;

	if (path[0] == '\0')
		return;
	snprintf(lock, sizeof(lock), "%s.lock", path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(lfd, LOCK_EX) != 0) {
		log_warnx("%s: could not lock %s: %s", __func__, lock,
		    strerror(errno));
		goto done;
	}
	/* Another append committed after ours wrote first: keep its line. */
	if (!force && anchor_read(path, &have, cur, err, sizeof(err)) == 0 &&
	    have > next)
		goto done;
	n = snprintf(line, sizeof(line), "%lld %s\n", next, tip);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok = fd != -1 && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
	if (fd != -1 && close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0)
		log_warnx("%s: could not write %s: %s", __func__, path,
		    strerror(errno));
 done:
	if (lfd != -1)
		close(lfd);	/* and the lock with it */
}

void
anchor_write(long long next, const char *tip)
{
	anchor_put(next, tip, 0);
}

void
anchor_reset(long long next, const char *tip)
{
	anchor_put(next, tip, 1);
}

int
anchor_check(struct db *db, const struct audit_tip *t, char *err,
    size_t errlen, long long *at)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	struct audit_tip cur = *t;
	char		 tip[AUDIT_HASH_HEX];
	long long	 next = 0;
	int		 i, rd = -1;

	if (audit_conf.ac_anchor[0] == '\0')
		return (0);
	/*
	 * The file is written after its append commits, and appends go on
	 * while verify walks: a file that differs from head is read again,
	 * with head, for up to 200 ms before it counts.
	 */
	for (i = 0; i < ANCHOR_TRIES; i++) {
		if (i > 0) {
			nanosleep(&ts, NULL);
			if (chain_head(db, &cur) != 0)
				return (-1);
		}
		if ((rd = anchor_read(audit_conf.ac_anchor, &next, tip, err,
		    errlen)) != 0) {
			/* Nothing chained yet: nothing to pin. */
			if (cur.at_next == 0)
				return (0);
			continue;
		}
		if (next == cur.at_next && strcmp(tip, cur.at_tip) == 0)
			return (0);
	}
	if (rd == 0)
		snprintf(err, errlen, "the anchor file says %lld entries and "
		    "tip %.16s..., the chain has %lld and %.16s...", next, tip,
		    cur.at_next, cur.at_tip);
	/* The first entry the file and head disagree on. */
	*at = rd == 0 && next < cur.at_next ? next : cur.at_next - 1;
	if (*at < 0)
		*at = 0;
	return (1);
}
