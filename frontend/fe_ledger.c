/*
 * fe_ledger.c - which anvil counts a frontend holds, kept where the master
 * can read them after the frontend died (frontend_processes > 1).
 *
 * The anvil table (shm/anvil.h) is shared by every frontend of a
 * generation, so connection count and rate limits are global. A frontend
 * killed outright cannot disconnect the connections it counted; with one
 * frontend the master resets the whole table before the restart, but with
 * several a reset would also forget the live frontends' counts (and their
 * later disconnects would find nothing). So each frontend notes every
 * counted connection in its ledger: one entry per connection slot of its
 * pool (the slot index is the entry), in a MAP_SHARED mapping the master
 * made before the fork. When it dies, the master disconnects whatever its
 * ledger still holds (fe_ledger_release) and the restarted frontend starts
 * with an empty ledger.
 *
 * Order: the frontend marks an entry before anvil_connect() (and clears it
 * when the connection was not counted) and clears it after
 * anvil_disconnect(); a death in between costs one count at most, always
 * in the open direction (a disconnect without its connect stops at 0 or
 * lowers another connection's count by one), never a count that stays
 * forever.
 *
 * Memory: 24 bytes per pool slot, touched only as slots are used.
 * Failure: fe_ledger_create returns NULL when the mapping fails (logged);
 * the frontend then runs without one, as with a single frontend.
 *
 * The board (fe_board_*): postscreen_pre_queue_limit and
 * postscreen_post_queue_limit are postscreen's limits over every client it
 * holds, and an administrator who sets 100 means 100 for the host, however
 * many frontends share the work. Each frontend of a generation publishes
 * its own two counts (screening; held plus handed over and not yet acked)
 * in its slot of one MAP_SHARED board the master made before the forks; a
 * frontend checks a limit against its own exact counts plus the others'
 * published ones. A frontend writes only its own slot (one cache line, no
 * contention) where a count changes, before the client sees any effect
 * (a teaser, a handoff), so what a client of one frontend observed is
 * counted when the next client reaches another; two clients accepted at
 * the same instant by two frontends may both pass the last free place.
 * The master zeroes a dead frontend's slot (its clients are gone with it).
 * Failure: fe_board_create returns NULL (logged); each frontend then
 * counts its own clients only, as before.
 */
#include "fe_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"

struct fe_ledger_entry {
    _Atomic uint32_t live;
    uint32_t tag;
    uint64_t k[2];
};

struct fe_ledger {
    uint32_t cap;
    size_t size;
    struct fe_ledger_entry e[];
};

struct fe_ledger *fe_ledger_create(const struct fe_conf *c)
{
    size_t size = sizeof(struct fe_ledger) + (size_t)c->pool_size * sizeof(struct fe_ledger_entry);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_warn("frontend ledger of %u connections: %s", c->pool_size, strerror(errno));
        return NULL;
    }
    struct fe_ledger *l = p;
    l->cap = c->pool_size;
    l->size = size;
    return l;
}

void fe_ledger_free(struct fe_ledger *l)
{
    if (l)
        munmap(l, l->size);
}

void fe_ledger_set(struct fe_ledger *l, uint32_t slot, const struct anvil_key *k)
{
    if (!l || slot >= l->cap)
        return;
    struct fe_ledger_entry *e = &l->e[slot];
    e->tag = k->tag;
    e->k[0] = k->k[0];
    e->k[1] = k->k[1];
    atomic_store_explicit(&e->live, 1, memory_order_release);
}

void fe_ledger_clear(struct fe_ledger *l, uint32_t slot)
{
    if (l && slot < l->cap)
        atomic_store_explicit(&l->e[slot].live, 0, memory_order_release);
}

struct fe_board_slot {
    _Atomic uint32_t pre, post;
    char pad[56]; /* one cache line per frontend: writers never share one */
};

struct fe_board {
    unsigned n;
    size_t size;
    struct fe_board_slot s[];
};

struct fe_board *fe_board_create(unsigned n)
{
    size_t size = sizeof(struct fe_board) + (size_t)n * sizeof(struct fe_board_slot);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_warn("frontend queue board for %u frontends: %s", n, strerror(errno));
        return NULL;
    }
    struct fe_board *b = p;
    b->n = n;
    b->size = size;
    return b;
}

void fe_board_free(struct fe_board *b)
{
    if (b)
        munmap(b, b->size);
}

void fe_board_publish(struct fe_board *b, unsigned index, uint32_t pre, uint32_t post)
{
    if (!b || index < 1 || index > b->n)
        return;
    atomic_store_explicit(&b->s[index - 1].pre, pre, memory_order_relaxed);
    atomic_store_explicit(&b->s[index - 1].post, post, memory_order_relaxed);
}

void fe_board_others(const struct fe_board *b, unsigned index, uint32_t *pre, uint32_t *post)
{
    uint32_t a = 0, c = 0;
    for (unsigned i = 0; b && i < b->n; i++) {
        if (i + 1 == index)
            continue;
        struct fe_board_slot *s = (struct fe_board_slot *)&b->s[i];
        a += atomic_load_explicit(&s->pre, memory_order_relaxed);
        c += atomic_load_explicit(&s->post, memory_order_relaxed);
    }
    *pre = a;
    *post = c;
}

unsigned fe_ledger_release(const struct fe_conf *c, struct fe_ledger *l)
{
    if (!l || !c->screen || !c->screen->anvil)
        return 0;
    unsigned n = 0;
    int64_t now = (int64_t)timer_clock_ms();
    for (uint32_t i = 0; i < l->cap; i++) {
        struct fe_ledger_entry *e = &l->e[i];
        if (!atomic_load_explicit(&e->live, memory_order_acquire))
            continue;
        struct anvil_key k = {.k = {e->k[0], e->k[1]}, .tag = e->tag};
        (void)anvil_disconnect(c->screen->anvil, &k, now);
        atomic_store_explicit(&e->live, 0, memory_order_relaxed);
        n++;
    }
    return n;
}
