/* fuzz_queue_file.c - any bytes as a queue file, whole and as a prefix of
 * a longer file; what decodes must encode back to the same envelope and
 * tail; the redirect pick is always a pending recipient. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const struct qf_env *e)
{
    struct strbuf sb;
    strbuf_init(&sb);
    size_t loff;
    if (qf_encode_head(e, &sb, &loff) != 0)
        __builtin_trap(); /* a decoded envelope is always encodable */
    if (sb.len != e->content_off || loff != e->length_off)
        __builtin_trap(); /* same layout: in-place offsets stay valid */
    sb.len = 0;
    if (qf_encode_tail(e->redirect, &sb) != 0 || e->content_off + e->content_len != e->tail_off)
        __builtin_trap(); /* a decoded tail is always encodable */
    strbuf_free(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qf_env e;
    struct qf_error err;
    const char *buf = (const char *)data;
    enum qf_result q = qf_decode(buf, size, size, &e, &err);
    if (q == QF_SHORT)
        __builtin_trap(); /* a whole file is never short */
    if (q == QF_BAD && (err.what[0] == '\0' || err.offset > size))
        __builtin_trap();
    if (q == QF_OK) {
        if (e.nrcpt == 0 || e.tail_off + QF_TRAILER_LEN > size || size - e.tail_off > QF_TAIL_MAX)
            __builtin_trap();
        int k = qf_redirect_pick(&e);
        if (k >= 0 && ((unsigned)k >= e.nrcpt || e.rcpt[k].state != QF_PENDING))
            __builtin_trap();
        for (unsigned i = 0; i < e.nrcpt; i++)
            if (e.rcpt[i].status_off >= size || buf[e.rcpt[i].status_off] != e.rcpt[i].state ||
                (e.rcpt[i].notify &&
                 qf_notify_parse(e.rcpt[i].notify, strlen(e.rcpt[i].notify)) <= 0))
                __builtin_trap(); /* a NOTIFY that decodes is one the runner can read */
        check_round_trip(&e);
        if (e.redirect && k >= 0 && (qf_redirect_apply(&e) != k || qf_pending(&e) != 1))
            __builtin_trap();
        qf_env_free(&e);
    }
    /* The same bytes as the beginning of a longer file. */
    q = qf_decode(buf, size, (uint64_t)size + 100, &e, &err);
    if (q == QF_OK)
        qf_env_free(&e);
    return 0;
}
