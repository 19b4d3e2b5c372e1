/*
 * tap.h - a tiny TAP harness for the unit tests.
 *
 * Each test binary defines a NULL-terminated table of struct tap_case and
 * calls tap_main().  A case fails by calling one of the T_* macros whose
 * condition is false; the macro prints a diagnostic and returns from the
 * case.  The harness prints "ok N - name" / "not ok N - name" per case and
 * ends with the plain "N passed, N failed" line that make test aggregates.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

struct tap_case {
	const char	*tc_name;
	int		(*tc_fn)(void);
};

#define T_OK(expr) do {							\
	if (!(expr)) {							\
		printf("# %s:%d: failed: %s\n", __FILE__, __LINE__, #expr); \
		return (-1);						\
	}								\
} while (0)

#define T_EQ_INT(a, b) do {						\
	long long _a = (long long)(a), _b = (long long)(b);		\
	if (_a != _b) {							\
		printf("# %s:%d: %s == %lld, expected %lld\n",		\
		    __FILE__, __LINE__, #a, _a, _b);			\
		return (-1);						\
	}								\
} while (0)

#define T_EQ_STR(a, b) do {						\
	const char *_a = (a), *_b = (b);				\
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {		\
		printf("# %s:%d: %s == \"%s\", expected \"%s\"\n",	\
		    __FILE__, __LINE__, #a, _a ? _a : "(null)",		\
		    _b ? _b : "(null)");				\
		return (-1);						\
	}								\
} while (0)

static inline int
tap_main(const struct tap_case *cases)
{
	int	 i, passed = 0, failed = 0;

	for (i = 0; cases[i].tc_name != NULL; i++) {
		if (cases[i].tc_fn() == 0) {
			printf("ok %d - %s\n", i + 1, cases[i].tc_name);
			passed++;
		} else {
			printf("not ok %d - %s\n", i + 1, cases[i].tc_name);
			failed++;
		}
	}
	printf("1..%d\n", i);
	printf("%d passed, %d failed\n", passed, failed);
	return (failed == 0 ? 0 : 1);
}

#endif /* TAP_H */
