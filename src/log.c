/*
 * log.c - level filtering and the stderr/syslog switch.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static int log_debug;
static int log_stderr = 1;
static int log_quiet;

void cfs_log_init(int debug, int foreground)
{
	log_debug = debug;
	log_stderr = foreground;
	if (!foreground)
		openlog("cloudfs", LOG_PID, LOG_DAEMON);
}

void cfs_log_quiet(int quiet)
{
	log_quiet = quiet;
}

int cfs_log_debug_enabled(void)
{
	return log_debug;
}

void cfs_log(enum cfs_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };
	va_list ap;

	if ((level > CFS_LOG_WARN || log_quiet) && !log_debug)
		return;
	va_start(ap, fmt);
	if (log_stderr) {
		char line[2048];

		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "cloudfs: %s: %s\n", names[level], line);
	} else {
		vsyslog(prio[level], fmt, ap);
	}
	va_end(ap);
}
