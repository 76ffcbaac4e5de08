/* logstats.h - sealctl stats: a summary of sealmilter's per-message log lines. */
#ifndef CLI_LOGSTATS_H
#define CLI_LOGSTATS_H

/* Read files (standard input when nfiles is 0), print the summary; since
 * and until (NULL: open) bound the period. 0, or 1 when a file could not be
 * read or a time is malformed (the message says which). */
int cmd_stats(const char *since, const char *until, char *const *files, int nfiles);

#endif
