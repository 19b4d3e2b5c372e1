/*
 * err.c - names for the SH_E* codes.
 */
#include "err.h"

const char *
sh_strerror(int code)
{
	switch (code) {
	case SH_OK:		return ("success");
	case SH_ERR:		return ("failure");
	case SH_ENOMEM:		return ("out of memory");
	case SH_ETIMEDOUT:	return ("timed out");
	case SH_EPROTO:		return ("protocol error");
	case SH_ETOOBIG:	return ("too big");
	case SH_EINVAL:		return ("invalid value");
	case SH_ENOTFOUND:	return ("not found");
	case SH_EIO:		return ("i/o error");
	case SH_EUNAVAIL:	return ("unavailable");
	case SH_ECANCELED:	return ("cancelled");
	default:		return ("unknown error");
	}
}
