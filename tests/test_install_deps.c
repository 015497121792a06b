/* scripts/install-deps.sh waits for another apt instead of failing: runs it
 * with a fake apt-get (and sudo) first in PATH that reports a held lock once,
 * and checks that the script retried, passed DPkg::Lock::Timeout, and still
 * fails at once on an error that is not a lock. Scratch: $GITC_TMP/install-deps. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[2048];

static int write_script(const char *name, const char *text)
{
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, 0755);
}

/* Runs the script with the fake tools; `mode` selects the fake's failure. */
static int run_script(const char *mode, char **calls, char **err)
{
    char calls_path[2200];
    snprintf(calls_path, sizeof calls_path, "%s/calls.txt", dir);
    unlink(calls_path);
    char state[2200];
    snprintf(state, sizeof state, "%s/state", dir);
    unlink(state);
    const char *path = getenv("PATH");
    char env_path[8192], env_dir[2200], env_mode[64];
    snprintf(env_path, sizeof env_path, "PATH=%s:%s", dir, path ? path : "/usr/bin:/bin");
    snprintf(env_dir, sizeof env_dir, "FAKE_DIR=%s", dir);
    snprintf(env_mode, sizeof env_mode, "FAKE_MODE=%s", mode);
    const char *env[] = {env_path, env_dir, env_mode, "GITC_APT_RETRY_SLEEP=0", "GITC_APT_LOCK_WAIT=5", NULL};
    const char *argv[] = {"/bin/sh", check_path("scripts/install-deps.sh"), NULL};
    check_run r;
    check_run_argv(&r, &(check_run_io){.env = env, .stdout_path = "/dev/null"}, argv);
    *calls = check_read_file(calls_path, NULL);
    *err = r.err; /* handed over */
    r.err = NULL;
    int status = r.status;
    check_run_free(&r);
    return status;
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *tmp = getenv("GITC_TMP");
    snprintf(dir, sizeof dir, "%s/install-deps", tmp && *tmp ? tmp : "/tmp");
    mkdir(dir, 0755);
    /* apt-get: logs its arguments; "lock" mode fails the first update with
     * apt's lock message, "broken" mode fails every call with another error. */
    check_true(write_script("apt-get",
                            "#!/bin/sh\n"
                            "echo \"$*\" >> \"$FAKE_DIR/calls.txt\"\n"
                            "if [ \"$FAKE_MODE\" = broken ]; then\n"
                            "  echo 'E: Unable to locate package nosuch' >&2; exit 100; fi\n"
                            "if [ \"$FAKE_MODE\" = lock ] && [ ! -e \"$FAKE_DIR/state\" ]; then\n"
                            "  touch \"$FAKE_DIR/state\"\n"
                            "  echo 'E: Could not get lock /var/lib/apt/lists/lock. It is held "
                            "by process 4242 (apt-get)' >&2\n"
                            "  echo 'E: Unable to lock directory /var/lib/apt/lists/' >&2\n"
                            "  exit 100\n"
                            "fi\n"
                            "exit 0\n") == 0 &&
                   write_script("sudo", "#!/bin/sh\nexec \"$@\"\n") == 0,
               "fake apt-get and sudo in %s", dir);

    char *calls = NULL, *err = NULL;
    int status = run_script("lock", &calls, &err);
    int ok = check_true(status == 0, "another apt holds the lock once: exit %d (want 0): %s",
                        status, err);
    ok &= check_true(count_lines(calls, "update") == 2 && count_lines(calls, " install -y") == 1,
                     "update tried again after the lock, then install: calls\n%s", calls);
    ok &= check_true(count_lines(calls, "-o DPkg::Lock::Timeout=") == 3,
                     "every apt-get call waits for dpkg's lock (DPkg::Lock::Timeout)");
    ok &= check_true(strstr(err, "waiting") != NULL, "the wait is announced: %s", err);
    printf("%-60s %s\n", "install-deps.sh waits for a held apt lock", ok ? "ok" : "FAILED");
    free(calls);
    free(err);

    status = run_script("broken", &calls, &err);
    ok = check_true(status != 0 && count_lines(calls, "update") == 1 &&
                        strstr(err, "Unable to locate package"),
                    "another apt error fails at once: exit %d, calls\n%s", status, calls);
    printf("%-60s %s\n", "install-deps.sh fails at once on other errors", ok ? "ok" : "FAILED");
    free(calls);
    free(err);
    return check_done("test_install_deps");
}
