/*
 * rows.h - private to the store: the environment handle, the on-disk
 * encodings and the operations of SPEC section 2 (worker/rows.c).
 *
 * store.c owns the LMDB environment, the transactions and every byte
 * layout (catalog entries, row keys, row values, meta counters); rows.c
 * implements the operations on top of those helpers.  Nothing outside
 * worker/store.c and worker/rows.c includes this file.
 *
 * Helpers that can fail return -1 and fill a struct err; ERR_OUT_OF_MEMORY
 * in it means the caller must answer 507 and return -1 from store_exec().
 */
#ifndef BATCHD_ROWS_H
#define BATCHD_ROWS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>
#include <lmdb.h>

#include "store.h"

/* Row keys longer than this are stored as head || hash (see store.h). */
#define STORE_KEY_RAW_MAX	507
#define STORE_KEY_HEAD		499
#define STORE_KEY_HASH		8
#define STORE_TID_LEN		4
#define STORE_LMDB_KEY_MAX	(STORE_TID_LEN + STORE_KEY_RAW_MAX)	/* 511 */
/* Row value header: u64 etag seq || u32 key length. */
#define STORE_VAL_HDR		12
/* Deepest JSON the store parses (PATCH bodies, stored rows, POST ids). */
#define STORE_JSON_DEPTH	1024

struct store {
	MDB_env		*st_env;
	MDB_dbi		 st_catalog;	/* "ws\0table" -> table id, rows */
	MDB_dbi		 st_rows;	/* tid || key -> etag, key, JSON */
	MDB_dbi		 st_meta;	/* counters */
	MDB_dbi		 st_async;	/* async batches (worker/async.c) */
	MDB_txn		*st_rtxn;	/* read snapshot, NULL before first read */
	int		 st_rlive;	/* st_rtxn is active (not reset) */
	MDB_txn		*st_group;	/* open atomicity group, or NULL */
	MDB_txn		*st_wgroup;	/* open write group, or NULL */
	int		 st_overflow;	/* the last write ran out of room */
	int		 st_direct;	/* row writes of a write group run in
					 * its transaction, not nested */
	int		 st_wrote;	/* the running write changed the txn */
	int		 st_poisoned;	/* a direct write failed after a change:
					 * the write group must be redone */
	int		 st_sync;	/* db_sync: make commits durable */
	struct store_shared_sync st_shared; /* .durable NULL: sync alone */
	size_t		 st_max_result;	/* 0: unlimited */
};

/* An LMDB row key: table id (big endian) || encoded row key. */
struct store_key {
	unsigned char	 sk_data[STORE_LMDB_KEY_MAX];
	size_t		 sk_len;
};

/* One catalog entry. */
struct store_table {
	uint32_t	 tb_id;
	uint64_t	 tb_rows;
};

/* One decoded row value; pointers into LMDB memory, valid for the txn. */
struct store_row {
	uint64_t	 rw_etag;
	const char	*rw_key;
	size_t		 rw_key_len;
	const char	*rw_json;
	size_t		 rw_json_len;
};

/* What a lookup of one row key found. */
enum store_found {
	STORE_MISSING = 0,
	STORE_FOUND,
	STORE_COLLIDES		/* another long key with the same head and hash */
};

/* An operation run inside a transaction chosen by store.c. */
typedef int (*store_op_fn)(struct store *, MDB_txn *, const struct item_req *,
    struct item_res *, struct err *);

/* store.c */
int	store_read(struct store *, const struct item_req *, struct item_res *,
	    store_op_fn);
int	store_write(struct store *, const struct item_req *, struct item_res *,
	    store_op_fn);
int	store_mdb_err(struct err *, int rc, const char *what);
int	store_fail(struct item_res *, const struct err *);
void	store_key_encode(struct store_key *, uint32_t tid, const char *key,
	    size_t n);
void	store_key_table(struct store_key *, uint32_t tid);
int	store_key_cmp(const void *a, size_t an, const void *b, size_t bn);
int	store_row_decode(const MDB_val *, struct store_row *, struct err *);
int	store_row_lookup(struct store *, MDB_txn *, uint32_t tid,
	    const char *key, size_t n, enum store_found *, struct store_row *,
	    struct err *);
int	store_row_write(struct store *, MDB_txn *, uint32_t tid,
	    const char *key, size_t n, uint64_t etag, const char *json,
	    size_t json_len, struct err *);
int	store_row_del(struct store *, MDB_txn *, uint32_t tid, const char *key,
	    size_t n, struct err *);
int	store_table_decode(const MDB_val *, struct store_table *,
	    struct err *);
int	store_table_get(struct store *, MDB_txn *, struct route_str ws,
	    struct route_str table, struct store_table *, int *found,
	    struct err *);
int	store_table_put(struct store *, MDB_txn *, struct route_str ws,
	    struct route_str table, const struct store_table *, struct err *);
int	store_table_new(struct store *, MDB_txn *, struct route_str ws,
	    struct route_str table, struct store_table *, struct err *);
int	store_table_del(struct store *, MDB_txn *, struct route_str ws,
	    struct route_str table, struct err *);
int	store_etag_next(struct store *, MDB_txn *, uint64_t *, struct err *);
void	store_etag_format(char *out, uint64_t seq);
int	store_json_parse(const char *, size_t, json_object **,
	    enum err_code bad, const char *what, struct err *);

/*
 * Is key a (an bytes) at or past the bound b (bn bytes), in LMDB's order
 * of keys (store_key_cmp(a, an, b, bn) >= 0)?  A part's scan asks it of
 * every row: eight bytes at a time, as big-endian words compared as
 * integers, instead of a memcmp() call (which was a tenth of what a plain
 * count spends on a row).
 */
static inline int
rows_key_at_or_past(const void *a, size_t an, const void *b, size_t bn)
{
	const unsigned char	*pa = a, *pb = b;
	size_t			 n = an < bn ? an : bn, i;
	uint64_t		 wa, wb;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&wa, pa + i, 8);
		memcpy(&wb, pb + i, 8);
		if (wa != wb) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			wa = __builtin_bswap64(wa);
			wb = __builtin_bswap64(wb);
#endif
			return wa > wb;
		}
	}
	for (; i < n; i++)
		if (pa[i] != pb[i])
			return pa[i] > pb[i];
	return an >= bn;
}

/* rows.c */
int	tables_list(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	tables_drop(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	rows_get(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	rows_put(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	rows_create(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	rows_patch(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	rows_delete(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	rows_scan(struct store *, MDB_txn *, const struct item_req *,
	    struct item_res *, struct err *);
int	rows_iter(struct store *, MDB_txn *, struct route_str ws,
	    struct route_str table, const struct route_str *lo,
	    const struct route_str *hi, store_row_cb, void *, struct err *);
int	rows_span(struct store *, MDB_txn *, struct route_str ws,
	    struct route_str table, struct store_span *, struct err *);

#endif
