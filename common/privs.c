/*
 * privs.c - giving up root after the sockets and keys are open: sealmilter
 * (milter.user) and sealview (sealview.user) call it once, at start, before
 * any worker thread runs.
 *
 * Calling rules: single-threaded; the process must start as root to switch
 * (or already run as the user). Untrusted input: none (names from the
 * configuration).
 */
#include "build-config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/log.h"
#include "common/privs.h"

int
privs_drop(const char *user, const char *group, const char *user_key, const char *group_key)
{
	struct passwd *pw;
	gid_t gid;

	if (user == NULL)
		return 0;
	/* cppcheck-suppress getpwnamCalled ; at start-up, before any thread (sealmilter, sealview) */
	if ((pw = getpwnam(user)) == NULL) {
		seal_err("%s: no such user '%s'", user_key, user);
		return -1;
	}
	gid = pw->pw_gid;
	if (group) {
		/* cppcheck-suppress getgrnamCalled ; at start-up, before any thread */
		struct group *gr = getgrnam(group);
		if (gr == NULL) {
			seal_err("%s: no such group '%s'", group_key, group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (getuid() != 0 && geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;
		seal_err("%s: must start as root to switch to '%s'", user_key, user);
		return -1;
	}
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(pw->pw_uid) != 0) {
		seal_err("cannot switch to user %s: %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		seal_err("could regain root after dropping privileges; refusing to run");
		return -1;
	}
	return 0;
}
