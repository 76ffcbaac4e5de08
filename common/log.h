/* log.h - one logging interface for the daemon, the CLI and the library. */
#ifndef SEAL_LOG_H
#define SEAL_LOG_H

enum seal_log_level { SEAL_LOG_DEBUG, SEAL_LOG_INFO, SEAL_LOG_WARN, SEAL_LOG_ERR };

/* Send log lines to syslog (facility mail) instead of stderr. */
void seal_log_use_syslog(const char *ident);
/* The program name that starts each stderr line (default sealmilter);
 * name must outlive the process's logging. */
void seal_log_set_name(const char *name);
/* Lines below this level are dropped. Default: INFO. */
void seal_log_set_level(enum seal_log_level level);
void seal_log(enum seal_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define seal_info(...) seal_log(SEAL_LOG_INFO, __VA_ARGS__)
#define seal_warn(...) seal_log(SEAL_LOG_WARN, __VA_ARGS__)
#define seal_err(...) seal_log(SEAL_LOG_ERR, __VA_ARGS__)
#define seal_debug(...) seal_log(SEAL_LOG_DEBUG, __VA_ARGS__)

#endif
