/*
 * anvil.c - the shared per-client connection count and rate table (see
 * anvil.h for the interface, the locking and the full-table behaviour).
 */
#include "anvil.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAG_LIVE (1u << 31)
#define WARN_INTERVAL_MS 60000
/* Spins before a waiter yields, and yields before it checks whether the
 * lock owner is still alive. */
#define SPINS 256
#define YIELDS_BEFORE_CHECK 64

static size_t table_size(uint32_t nbuckets)
{
    return sizeof(struct anvil_shared) + (size_t)nbuckets * sizeof(struct anvil_bucket);
}

int anvil_create(const struct anvil_opts *o, struct anvil *out)
{
    unsigned slots = o && o->slots ? o->slots : 65536;
    unsigned v4 = o && o->ipv4_prefix ? o->ipv4_prefix : 32;
    unsigned v6 = o && o->ipv6_prefix ? o->ipv6_prefix : 64;
    int64_t unit = o && o->rate_unit_ms ? o->rate_unit_ms : 60000;
    if (v4 > 32 || v6 > 128 || unit < 0 || slots > (1u << 28))
        return -EINVAL;
    uint32_t nb = 2; /* two choices need two buckets */
    while ((uint64_t)nb * ANVIL_BUCKET_SLOTS < slots)
        nb <<= 1;

    int fd = memfd_create("mxscreen-anvil", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t size = table_size(nb);
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct anvil_shared *sh = p; /* ftruncate gave zeroes: every lock free */
    sh->nbuckets = nb;
    sh->ipv4_prefix = v4;
    sh->ipv6_prefix = v6;
    sh->rate_unit_ms = unit;
    if (getrandom(sh->seed, sizeof(sh->seed), GRND_NONBLOCK) != (ssize_t)sizeof(sh->seed)) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        sh->seed[0] = (uint64_t)t.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        sh->seed[1] = (uint64_t)t.tv_sec ^ (uintptr_t)p;
    }
    atomic_store(&sh->last_warn_ms, INT64_MIN / 2);
    sh->magic = ANVIL_MAGIC;
    out->sh = sh;
    out->size = size;
    out->fd = fd;
    return 0;
}

int anvil_attach(int fd, struct anvil *out)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((size_t)st.st_size < sizeof(struct anvil_shared))
        return -EINVAL;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return -errno;
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        close(dfd);
        return -e;
    }
    struct anvil_shared *sh = p;
    if (sh->magic != ANVIL_MAGIC || sh->nbuckets < 2 || (sh->nbuckets & (sh->nbuckets - 1)) ||
        table_size(sh->nbuckets) != (size_t)st.st_size) {
        munmap(p, (size_t)st.st_size);
        close(dfd);
        return -EINVAL;
    }
    out->sh = sh;
    out->size = (size_t)st.st_size;
    out->fd = dfd;
    return 0;
}

void anvil_detach(struct anvil *a)
{
    if (a->sh)
        munmap(a->sh, a->size);
    if (a->fd >= 0)
        close(a->fd);
    a->sh = NULL;
    a->fd = -1;
}

/* ---- keys ------------------------------------------------------------------- */

static void mask(unsigned char *b, unsigned bytes, unsigned prefix)
{
    for (unsigned i = 0; i < bytes; i++) {
        unsigned bit = i * 8;
        if (bit >= prefix)
            b[i] = 0;
        else if (prefix - bit < 8)
            b[i] &= (unsigned char)(0xff << (8 - (prefix - bit)));
    }
}

int anvil_key(const struct anvil *a, const struct sockaddr *sa, struct anvil_key *out)
{
    unsigned char b[16] = {0};
    unsigned family, prefix;
    if (sa->sa_family == AF_INET) {
        memcpy(b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        family = 4;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(b, a6->s6_addr + 12, 4);
            family = 4;
        } else {
            memcpy(b, a6, 16);
            family = 6;
        }
    } else {
        return -EINVAL;
    }
    prefix = family == 4 ? a->sh->ipv4_prefix : a->sh->ipv6_prefix;
    mask(b, family == 4 ? 4 : 16, prefix);
    memcpy(&out->k[0], b, 8);
    memcpy(&out->k[1], b + 8, 8);
    out->tag = family | prefix << 8 | TAG_LIVE;
    return 0;
}

int anvil_key_text(const struct anvil_key *k, char *buf, size_t size)
{
    unsigned family = k->tag & 0xff, prefix = (k->tag >> 8) & 0xff;
    unsigned char b[16];
    char addr[INET6_ADDRSTRLEN];
    memcpy(b, &k->k[0], 8);
    memcpy(b + 8, &k->k[1], 8);
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, b, addr, sizeof(addr)))
        return snprintf(buf, size, "?");
    if (prefix == (family == 4 ? 32u : 128u))
        return snprintf(buf, size, "%s", addr);
    return snprintf(buf, size, "%s/%u", addr, prefix);
}

/* splitmix64 finaliser over the key words, keyed with the table's seed. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void buckets_of(const struct anvil_shared *sh, const struct anvil_key *k, uint32_t *b1,
                       uint32_t *b2)
{
    uint64_t h = mix(k->k[0] ^ sh->seed[0]);
    h = mix(h ^ k->k[1] ^ k->tag);
    uint64_t h2 = mix(h ^ sh->seed[1]);
    *b1 = (uint32_t)h & (sh->nbuckets - 1);
    *b2 = (uint32_t)h2 & (sh->nbuckets - 1);
}

/* ---- locks ------------------------------------------------------------------ */

/* The lock word holds the owner's pid. getpid() is a system call in
 * glibc (no cache since 2.25) and a lock is taken per connection, so ask
 * once per process: the master creates the table and forks the frontends
 * and workers, and pthread_atfork() forgets the cached pid in each child
 * (a child keeping its parent's pid would look alive to the stealer while
 * dead, and a lock it died holding would never be taken back). */
static int32_t self_pid;
static bool self_cacheable; /* pthread_atfork() took our handler */
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_forget(void)
{
    self_pid = 0;
}

static void self_register(void)
{
    self_cacheable = pthread_atfork(NULL, NULL, self_forget) == 0;
}

static int32_t self(void)
{
    if (self_pid != 0)
        return self_pid;
    pthread_once(&self_once, self_register);
    int32_t pid = (int32_t)getpid();
    if (self_cacheable)
        self_pid = pid;
    return pid;
}

static void lock(struct anvil_shared *sh, struct anvil_bucket *b)
{
    int32_t me = self();
    unsigned spins = 0, yields = 0;
    for (;;) {
        int32_t owner = 0;
        if (atomic_compare_exchange_weak_explicit(&b->lock, &owner, me, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        if (++spins < SPINS)
            continue;
        spins = 0;
        sched_yield();
        if (++yields < YIELDS_BEFORE_CHECK)
            continue;
        yields = 0;
        /* A holder keeps the lock for nanoseconds; one that has held it
         * this long may be dead (kill -9 inside the critical section). */
        owner = atomic_load_explicit(&b->lock, memory_order_relaxed);
        if (owner > 0 && owner != me && kill(owner, 0) < 0 && errno == ESRCH &&
            atomic_compare_exchange_strong_explicit(&b->lock, &owner, me, memory_order_acquire,
                                                    memory_order_relaxed)) {
            atomic_fetch_add_explicit(&sh->stolen, 1, memory_order_relaxed);
            return;
        }
    }
}

static void unlock(struct anvil_bucket *b)
{
    atomic_store_explicit(&b->lock, 0, memory_order_release);
}

static void lock2(struct anvil_shared *sh, uint32_t b1, uint32_t b2)
{
    if (b1 == b2) {
        lock(sh, &sh->bucket[b1]);
        return;
    }
    lock(sh, &sh->bucket[b1 < b2 ? b1 : b2]);
    lock(sh, &sh->bucket[b1 < b2 ? b2 : b1]);
}

static void unlock2(struct anvil_shared *sh, uint32_t b1, uint32_t b2)
{
    unlock(&sh->bucket[b1]);
    if (b2 != b1)
        unlock(&sh->bucket[b2]);
}

/* ---- operations ------------------------------------------------------------- */

static int same(const struct anvil_slot *s, const struct anvil_key *k)
{
    return s->tag == k->tag && s->key[0] == k->k[0] && s->key[1] == k->k[1];
}

static struct anvil_slot *find(struct anvil_shared *sh, uint32_t b1, uint32_t b2,
                               const struct anvil_key *k)
{
    uint32_t bs[2] = {b1, b2};
    for (int i = 0; i < (b1 == b2 ? 1 : 2); i++) {
        struct anvil_bucket *b = &sh->bucket[bs[i]];
        for (int j = 0; j < ANVIL_BUCKET_SLOTS; j++)
            if (same(&b->slot[j], k))
                return &b->slot[j];
    }
    return NULL;
}

static int stale(const struct anvil_shared *sh, const struct anvil_slot *s, int64_t now)
{
    return s->count == 0 && now - s->window >= sh->rate_unit_ms;
}

/* A free slot for a new client: an empty one in the emptier bucket, else
 * a stale one in either. */
static struct anvil_slot *claim(struct anvil_shared *sh, uint32_t b1, uint32_t b2, int64_t now,
                                struct anvil_bucket **owner)
{
    struct anvil_bucket *x = &sh->bucket[b1], *y = &sh->bucket[b2];
    if (y->used < x->used) {
        struct anvil_bucket *t = x;
        x = y;
        y = t;
    }
    struct anvil_bucket *order[2] = {x, y};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < ANVIL_BUCKET_SLOTS; j++)
            if (order[i]->slot[j].tag == 0) {
                *owner = order[i];
                order[i]->used++;
                return &order[i]->slot[j];
            }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < ANVIL_BUCKET_SLOTS; j++)
            if (stale(sh, &order[i]->slot[j], now)) {
                *owner = order[i];
                return &order[i]->slot[j];
            }
    return NULL;
}

static void warn_full(struct anvil_shared *sh, const struct anvil_key *k, int64_t now)
{
    int64_t last = atomic_load_explicit(&sh->last_warn_ms, memory_order_relaxed);
    if (now - last < WARN_INTERVAL_MS ||
        !atomic_compare_exchange_strong(&sh->last_warn_ms, &last, now))
        return;
    char text[64];
    anvil_key_text(k, text, sizeof(text));
    log_warn("anvil: client table full (%u slots): connection from %s is not counted against "
             "the postscreen_client_connection_count/rate limits (fail open); %llu so far",
             sh->nbuckets * ANVIL_BUCKET_SLOTS, text,
             (unsigned long long)atomic_load(&sh->fail_open));
}

enum anvil_verdict anvil_connect(struct anvil *a, const struct anvil_key *k, int64_t now_ms,
                                 uint32_t count_limit, uint32_t rate_limit,
                                 struct anvil_counts *out)
{
    struct anvil_shared *sh = a->sh;
    uint32_t b1, b2;
    enum anvil_verdict v;
    buckets_of(sh, k, &b1, &b2);
    lock2(sh, b1, b2);
    struct anvil_slot *s = find(sh, b1, b2, k);
    if (!s) {
        struct anvil_bucket *owner;
        s = claim(sh, b1, b2, now_ms, &owner);
        if (!s) {
            unlock2(sh, b1, b2);
            atomic_fetch_add_explicit(&sh->fail_open, 1, memory_order_relaxed);
            warn_full(sh, k, now_ms);
            if (out)
                out->count = out->rate = 0;
            return ANVIL_FAIL_OPEN;
        }
        s->key[0] = k->k[0];
        s->key[1] = k->k[1];
        s->tag = k->tag;
        s->count = 0;
        s->rate = 0;
        s->window = now_ms;
    }
    if (now_ms - s->window >= sh->rate_unit_ms) {
        s->window = now_ms;
        s->rate = 0;
    }
    if (s->rate < UINT32_MAX)
        s->rate++;
    if (count_limit && s->count >= count_limit)
        v = ANVIL_COUNT_LIMIT;
    else if (rate_limit && s->rate > rate_limit)
        v = ANVIL_RATE_LIMIT;
    else {
        s->count++;
        v = ANVIL_OK;
    }
    if (out) {
        out->count = s->count;
        out->rate = s->rate;
    }
    unlock2(sh, b1, b2);
    return v;
}

int anvil_disconnect(struct anvil *a, const struct anvil_key *k, int64_t now_ms)
{
    struct anvil_shared *sh = a->sh;
    uint32_t b1, b2;
    int rc = 0;
    buckets_of(sh, k, &b1, &b2);
    lock2(sh, b1, b2);
    struct anvil_slot *s = find(sh, b1, b2, k);
    if (!s || s->count == 0) {
        rc = -ENOENT;
    } else if (--s->count == 0 && stale(sh, s, now_ms)) {
        /* Nothing left to remember: free the slot now. */
        s->tag = 0;
        for (uint32_t i = 0; i < 2; i++) {
            struct anvil_bucket *bb = &sh->bucket[i ? b2 : b1];
            if (s >= bb->slot && s < bb->slot + ANVIL_BUCKET_SLOTS) {
                bb->used--;
                break;
            }
        }
    }
    unlock2(sh, b1, b2);
    return rc;
}

void anvil_lookup(struct anvil *a, const struct anvil_key *k, int64_t now_ms,
                  struct anvil_counts *out)
{
    struct anvil_shared *sh = a->sh;
    uint32_t b1, b2;
    buckets_of(sh, k, &b1, &b2);
    lock2(sh, b1, b2);
    struct anvil_slot *s = find(sh, b1, b2, k);
    out->count = s ? s->count : 0;
    out->rate = s && now_ms - s->window < sh->rate_unit_ms ? s->rate : 0;
    unlock2(sh, b1, b2);
}

void anvil_reset(struct anvil *a)
{
    struct anvil_shared *sh = a->sh;
    for (uint32_t i = 0; i < sh->nbuckets; i++) {
        struct anvil_bucket *b = &sh->bucket[i];
        lock(sh, b);
        memset(b->slot, 0, sizeof(b->slot));
        b->used = 0;
        unlock(b);
    }
}

size_t anvil_used(struct anvil *a)
{
    struct anvil_shared *sh = a->sh;
    size_t n = 0;
    for (uint32_t i = 0; i < sh->nbuckets; i++)
        n += sh->bucket[i].used;
    return n;
}
