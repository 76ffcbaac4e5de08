/* viewadmin.h - sealctl's commands for sealview's admin API. Each returns
 * the process exit status. */
#ifndef CLI_VIEWADMIN_H
#define CLI_VIEWADMIN_H

struct seal_config;

/* Revoke by seal id or Message-ID: 0 done (or already), 2 no such message, 1 error. */
int cmd_revoke(const struct seal_config *c, const char *id);
/* Print the audit records (of seal_id, or all) as a table, or as JSON lines;
 * or check the chain (verify: 0 intact, 4 broken). 1 on error. */
int cmd_audit(const struct seal_config *c, const char *seal_id, int json, int verify);

#endif
