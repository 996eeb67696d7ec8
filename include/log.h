/*
 * log.h - the one logger.  Foreground: stderr; daemon: syslog.
 *
 * Warnings and errors are always logged; info and the per-request lines
 * only with -d.  Callers never pass secrets: URLs carry none, and the auth
 * headers never reach a log call.
 */
#ifndef CFS_LOG_H
#define CFS_LOG_H

enum cfs_log_level {
	CFS_LOG_ERROR,
	CFS_LOG_WARN,
	CFS_LOG_INFO,
	CFS_LOG_DEBUG
};

void cfs_log_init(int debug, int foreground);
/* While quiet (and without -d), warnings are not logged either: the
 * mount-time check reports its failure as one line of its own. */
void cfs_log_quiet(int quiet);
int cfs_log_debug_enabled(void);
void cfs_log(enum cfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cfs_err(...) cfs_log(CFS_LOG_ERROR, __VA_ARGS__)
#define cfs_warn(...) cfs_log(CFS_LOG_WARN, __VA_ARGS__)
#define cfs_info(...) cfs_log(CFS_LOG_INFO, __VA_ARGS__)
#define cfs_debug(...) cfs_log(CFS_LOG_DEBUG, __VA_ARGS__)

#endif
