/*
 * segment.h - the policy segment: one memfd per generation that the master
 * fills while it loads the generation, then seals and maps read-only. The
 * children inherit the mapping across fork(): one copy in memory however
 * many workers, and no process can write it (a write faults with SIGSEGV).
 *
 * What goes in (workers/generation.c, in this order; doc/segment.md):
 *  - the parsed configuration: every string, list vector and token, the
 *    main.cf entries, defaults and expanded values (config_place, through
 *    the same alloc as the placer); struct config's scalars stay in the
 *    generation;
 *  - through the maps.h placer (segment_map_placer), every map the
 *    generation opens: Hyperscan databases (serialized once, placed with
 *    hs_deserialize_database_at), regexp:/pcre: rule tables (patterns,
 *    rules, result templates, modes, candidate indexes, partitions, the
 *    cut literals' tails) and the PCRE2 code their lookups keep (compiled
 *    through a pcre2_general_context whose malloc is the segment), cidr:
 *    rules and index, texthash: records and slots, inline: entries,
 *    static: values;
 *  - compiled match lists (mynetworks, relay_domains, mydestination, the
 *    XCLIENT and bare-newline host lists) and restriction lists (items, RBL
 *    zones, restriction classes), the transport table's tables, and the
 *    frontend's configuration: the master builds those after
 *    generation_load() and before generation_seal(), under the same placer.
 * What stays per process: Hyperscan scratch, PCRE2 match data, lookup
 * stamps (maps_regexp.c's struct rx_local), glibc regex_t (malloc'd
 * internals; regexec locks inside it), LMDB environments (the page cache
 * shares those), and tables re-read after their file changed (refresh).
 *
 * Building: segment_create() reserves address space for the whole segment
 * up front (PROT_NONE, no memory), so that memory handed out by
 * segment_alloc() never moves while the memfd grows behind it: pointers into
 * the segment stay valid for its lifetime (Hyperscan databases are not
 * relocatable once placed).
 *
 * Sealing: segment_seal() replaces the writable shared mapping with the
 * reservation again, trims the memfd to the bytes used, adds
 * F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_WRITE|F_SEAL_SEAL, and maps the memfd
 * read-only at the same address. (F_SEAL_WRITE fails with EBUSY while any
 * writable shared mapping exists, hence the order.)
 *
 * Failure: functions return 0 or -errno and leave the segment as it was;
 * segment_alloc() returns -ENOSPC when the reservation is exhausted and
 * -EPERM once sealed. Nothing here logs.
 */
#ifndef MX_SEGMENT_H
#define MX_SEGMENT_H

#include <stddef.h>

struct map_placer;
struct segment;

/* Address space reserved per segment when the caller passes 0. */
#define SEGMENT_RESERVE_DEFAULT ((size_t)1 << 30)

struct segment_stats {
    size_t used;         /* bytes handed out, alignment padding included */
    size_t mapped;       /* bytes of the memfd currently mapped */
    unsigned databases;  /* Hyperscan databases placed (segment_count_database) */
    int sealed;
};

/* A new empty segment named "mxscreen-policy-gID". reserve: address space
 * to set aside (0: SEGMENT_RESERVE_DEFAULT). */
int segment_create(unsigned id, size_t reserve, struct segment **out);
/* size bytes aligned to align (a power of two, at most the page size),
 * zero-filled. */
int segment_alloc(struct segment *s, size_t size, size_t align, void **out);
/* Count one Hyperscan database placed in memory from segment_alloc(). */
void segment_count_database(struct segment *s);
/* Trim, seal and map read-only (see above). Idempotent. */
int segment_seal(struct segment *s);
void segment_stats(const struct segment *s, struct segment_stats *out);
/* Whether p points into the segment. */
int segment_contains(const struct segment *s, const void *p);
/* The memfd (close-on-exec), e.g. to pass it to another process. */
int segment_fd(const struct segment *s);
/* Unmap and close. NULL is fine. */
void segment_free(struct segment *s);

/* Fill a maps.h placer that puts pattern-table databases into s. */
void segment_map_placer(struct segment *s, struct map_placer *out);

#endif
