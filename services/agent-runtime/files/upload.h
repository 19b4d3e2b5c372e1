/*
 * files/upload.h - uploads, an agent's workspace files, and the attachments of
 * a message turned into content blocks (spec 004, "Supported Attachment
 * Types").
 *
 *	files/upload.c	the rules shared by both (file names, content types,
 *			base64) and upload_blocks(); it touches only the
 *			uploads table, so a test program can use it alone
 *	files/files.c	the operations: uploads.create, uploads.get and
 *			agents.files_{list,get,put,delete}
 *
 * Uploads live in runtime.uploads (sql/005_uploads.sql), bytes included,
 * so every replica serves every upload.  Workspace files live under the
 * agent's workspace directory (tool_workspace() in tool/tool.h).
 */
#ifndef UPLOAD_H
#define UPLOAD_H

#include <stddef.h>

#include <jansson.h>

#include "db.h"
#include "svc.h"

#define UPLOAD_MAX		(10 * 1024 * 1024)	/* max_upload_size_bytes */
#define UPLOAD_NAME_MAX		255	/* bytes of a file name */
#define UPLOAD_CTYPE_MAX	127	/* bytes of a content type */
#define UPLOAD_TEXT_CHARS	200000	/* characters of an attached text */
#define UPLOAD_ATTACH_MAX	20	/* attachments in one message */
#define UPLOAD_ERRLEN		256

/* The operations (files/files.c), NULL-ended, for svc_def.sd_ops. */
extern const struct svc_op upload_ops[];

/*
 * Turns a message's "attachments" ([{file_id, filename?, content_type?}],
 * borrowed; NULL or JSON null means none) into content blocks of the
 * persisted message format (notes/agent-core.md 4.5), appended to the
 * array blocks in order:
 *
 *	image/png, jpeg, gif, webp   {"type":"image","media_type","data"}
 *	application/pdf              {"type":"text","text":"[Attached PDF:
 *				      <name>]\n<text>"} (pdftotext; a short
 *				      note when the PDF has no text)
 *	text, code (MIME or name)    {"type":"text","text":"[Attached file:
 *				      <name>]\n<UTF-8 contents>"}
 *
 * Texts stop at UPLOAD_TEXT_CHARS characters (then a line says so).
 * Anything else is skipped with a warning in the log.  Every file_id must
 * name an upload of agent_id.  May block (database, pdftotext up to 30 s):
 * call it from a job thread, with that thread's connection.
 *
 * Returns 0; SH_EINVAL when the attachments are malformed or name an
 * unknown upload (the turn answers 400 with err); SH_EUNAVAIL when the
 * database failed (503); SH_ENOMEM.  On failure blocks is unchanged.
 */
int	 upload_blocks(struct db *db, const char *agent_id,
	    json_t *attachments, json_t *blocks, char *err, size_t errlen);

/*
 * A file name that is one path component: 1..UPLOAD_NAME_MAX bytes, not
 * "." or "..", no '/', '\\' or control character.  0, or -1 with the
 * reason in err.
 */
int	 upload_name_check(const char *name, char *err, size_t errlen);
/* A content type fit for a response header ("type/subtype[; ...]",
 * printable ASCII).  0, or -1 with the reason in err. */
int	 upload_ctype_check(const char *ctype, char *err, size_t errlen);

/* Base64 of data[0..len) (new, NUL-terminated), NULL on ENOMEM. */
char	*upload_b64_encode(const void *data, size_t len);
/* Decodes canonical padded base64 s[0..len) into a new buffer (*outp,
 * NUL-terminated, caller frees) of *outlen bytes.  0, SH_EINVAL (not
 * base64) or SH_ENOMEM. */
int	 upload_b64_decode(const char *s, size_t len, unsigned char **outp,
	    size_t *outlen);

/* Writes all of p[0..n) to fd (restarts on EINTR).  0, or -1 (errno). */
int	 upload_write_all(int fd, const unsigned char *p, size_t n);

#endif /* UPLOAD_H */
