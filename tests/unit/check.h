/*
 * check.h - the few assertion macros the C unit tests share.  Each test
 * binary exits non-zero on the first failed check, naming file and line.
 */
#ifndef CFS_CHECK_H
#define CFS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: check failed: %s\n",          \
				__FILE__, __LINE__, #cond);                   \
			exit(1);                                              \
		}                                                             \
	} while (0)

#define CHECK_STR(got, want)                                                  \
	do {                                                                  \
		const char *g_ = (got);                                       \
		const char *w_ = (want);                                      \
		if (!g_ || strcmp(g_, w_) != 0) {                             \
			fprintf(stderr, "%s:%d: got '%s', want '%s'\n",       \
				__FILE__, __LINE__, g_ ? g_ : "(null)", w_);  \
			exit(1);                                              \
		}                                                             \
	} while (0)

#endif
