/*
 * version.h - the one place the release version is written.
 */
#ifndef SH_VERSION_H
#define SH_VERSION_H

#define LIBREFANG_NAME		"librefang"
#define LIBREFANG_VERSION	"0.1.0"

#endif /* SH_VERSION_H */
