/* privs.h - giving up root: the run-time user and group of a daemon. */
#ifndef SEAL_PRIVS_H
#define SEAL_PRIVS_H

/* Switch to user (and group, or the user's primary group) for good: the
 * supplementary groups go, and root cannot be regained (checked). keys
 * names the configuration keys in messages ("milter.user"). Nothing to do
 * when user is NULL, or when the process already runs as that user. 0, or
 * -1 after logging why (no such user or group, not root, the switch failed). */
int privs_drop(const char *user, const char *group, const char *user_key, const char *group_key);

#endif
