/*
 * spool_setup.c - delivery_mode = queue in the worker (spool.h), its
 * set-up: queue_directory created (master) and opened (worker), the
 * ring's file opcodes checked (IORING_OP_FTRUNCATE can be turned off for
 * tests: SPOOL_ENV_NO_FTRUNCATE), the io-wq thread limit, tmp/ cleaned, and
 * the queue parameters without a typed field. A failure is logged and
 * leaves the spool off: every message then gets 451 (spool.c).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "spool_int.h"
#include "worker_int.h"

/* io-wq threads for the ring's bounded (file) requests: see spool_worker_init */
#define SPOOL_IOWQ_BOUNDED 2

int spool_prepare(const struct config *cfg, char *err, size_t errlen)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam(cfg->p.mail_owner);
        if (!pw) {
            snprintf(err, errlen, "mail_owner: unknown user \"%s\"", cfg->p.mail_owner);
            return -ENOENT;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    int rc = qdir_create(cfg->p.queue_directory, uid, gid);
    if (rc < 0)
        snprintf(err, errlen, "queue_directory %s: %s", cfg->p.queue_directory, strerror(-rc));
    return rc;
}

const char *spool_param(const struct config *cfg, const char *name, const char *dflt)
{
    struct cfg_value v;
    if (config_get(cfg, name, &v) < 0)
        return dflt;
    const char *s = v.expanded ? v.expanded : v.raw;
    return s ? s : dflt;
}

void spool_worker_init(struct worker *w)
{
    const struct config *cfg = &w->gen->cfg;
    if (cfg->p.delivery_mode != DELIVERY_QUEUE)
        return;
    struct spool_worker *sw = calloc(1, sizeof(*sw));
    if (!sw) {
        log_error("queue_directory: out of memory");
        return;
    }
    w->spool = sw;
    long lim = 1000;
    if (cfg_value_long(spool_param(cfg, "duplicate_filter_limit", "1000"), &lim) < 0 || lim < 0)
        lim = 1000;
    sw->dup_limit = (unsigned long)lim;
    sw->utf8 = true;
    (void)cfg_value_bool(spool_param(cfg, "smtputf8_enable", "yes"), &sw->utf8);
    sw->batch[0].dir = QDIR_INCOMING;
    sw->batch[1].dir = QDIR_HOLD;
    const char *path = cfg->p.queue_directory;
    int rc = qdir_create(path, getuid(), getgid());
    if (rc == 0)
        rc = qdir_open(path, &sw->q);
    if (rc < 0) {
        log_error("queue_directory %s: %s: mail will be deferred", path, strerror(-rc));
        return;
    }
    /* Every step goes through the ring: a kernel without these opcodes
     * would leave the worker blocking on disk, or nothing to complete. */
    struct io_uring_probe *pr = io_uring_get_probe_ring(&w->ring.uring);
    bool have = pr && io_uring_opcode_supported(pr, IORING_OP_OPENAT) &&
                io_uring_opcode_supported(pr, IORING_OP_WRITE) &&
                io_uring_opcode_supported(pr, IORING_OP_FSYNC) &&
                io_uring_opcode_supported(pr, IORING_OP_RENAMEAT);
    sw->trim = pr && pr->last_op >= SPOOL_OP_FTRUNCATE_NR &&
               io_uring_opcode_supported(pr, SPOOL_OP_FTRUNCATE_NR);
    /* For tests only (doc/delivery.md): the O_TRUNC path that kernels
     * before 6.9 take, run where the ring has IORING_OP_FTRUNCATE. Read
     * once here, logged so that a test can tell the mode took effect. */
    const char *no_trim = getenv(SPOOL_ENV_NO_FTRUNCATE);
    if (sw->trim && no_trim && strcmp(no_trim, "1") == 0) {
        sw->trim = false;
        log_info("queue_directory %s: %s=1: pooled files emptied by O_TRUNC at open "
                 "(test mode)", path, SPOOL_ENV_NO_FTRUNCATE);
    }
    if (pr)
        io_uring_free_probe(pr);
    if (!have) {
        log_error("queue_directory %s: io_uring lacks IORING_OP_OPENAT/WRITE/FSYNC/RENAMEAT "
                  "(Linux 5.11 or later needed): mail will be deferred", path);
        return;
    }
    sw->ok = true;
    /* At most SPOOL_IOWQ_BOUNDED kernel threads run this ring's file
     * requests (the kernel's default is up to 4 per CPU). Creates and
     * renames in tmp/ and incoming/ serialize on the directory's lock, and
     * on ext4 without a journal each create walks the inodes freed in the
     * last seconds (recently_deleted) under it: the extra threads only
     * spun on that lock. bench/queue: 1.2 -> 0.76 CPU ms/msg with 2; 4
     * was as bad as the default. Not fatal where unsupported (Linux < 5.15):
     * the old default stays. */
    unsigned iowq[2] = {SPOOL_IOWQ_BOUNDED, 0};
    (void)io_uring_register_iowq_max_workers(&w->ring.uring, iowq);
    rc = qdir_clean_tmp(&sw->q, getpid());
    if (rc > 0)
        log_info("queue_directory %s: removed %d unfinished file(s) from tmp", path, rc);
    else if (rc < 0)
        log_warn("queue_directory %s/tmp: %s", path, strerror(-rc));
}

void spool_worker_close(struct worker *w)
{
    struct spool_worker *sw = w->spool;
    if (!sw)
        return;
    if (sw->ok)
        qdir_close(&sw->q);
    for (int i = 0; i < 2; i++) {
        free(sw->batch[i].wait);
        free(sw->batch[i].cover);
    }
    free(sw);
    w->spool = NULL;
}

bool spool_enabled(const struct conn *c)
{
    return c->gen->cfg.p.delivery_mode == DELIVERY_QUEUE;
}
