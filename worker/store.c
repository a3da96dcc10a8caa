/*
 * store.c - the LMDB environment of one worker: transactions, byte layouts
 * and dispatch of store operations to worker/rows.c.
 *
 * Transactions.  Reads use one read-only transaction handle, allocated on
 * the first read and reset/renewed from then on: a read renews it unless
 * no write has been committed since (by this worker or any other), so it
 * sees every write committed before it started, a burst of reads shares
 * one snapshot, and store_idle() resets it so an idle worker pins
 * no old pages.  A write first resets that snapshot - this keeps the
 * thread at one live transaction, as LMDB documents - then runs in a fresh
 * write transaction that is committed only when the operation succeeded.
 * Inside an atomicity group, reads use the group's write transaction and
 * each write runs in a nested transaction of it; inside a write group, row
 * writes run straight in its transaction (store_write says why).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "durable.h"
#include "futex.h"
#include "rows.h"

/* Named databases in the environment; room is left for a few more. */
#define STORE_MAXDBS		8
#define STORE_CAT_KEY_MAX	(ROUTE_NAME_MAX * 2 + 1)
#define STORE_CAT_VAL		12

static const char meta_next_tid[] = "next_table_id";
static const char meta_etag_seq[] = "etag_seq";

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t
get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/*
 * FNV-1a with a murmur3 finaliser.  Not collision resistant against an
 * adversary, so a lookup always compares the full key kept in the value
 * (store_row_lookup reports STORE_COLLIDES).
 */
static uint64_t
store_key_hash(const char *s, size_t n)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

void
store_key_table(struct store_key *k, uint32_t tid)
{
	put_be32(k->sk_data, tid);
	k->sk_len = STORE_TID_LEN;
}

void
store_key_encode(struct store_key *k, uint32_t tid, const char *key, size_t n)
{
	store_key_table(k, tid);
	if (n == 0)
		return;
	if (n <= STORE_KEY_RAW_MAX) {
		memcpy(k->sk_data + STORE_TID_LEN, key, n);
		k->sk_len += n;
		return;
	}
	memcpy(k->sk_data + STORE_TID_LEN, key, STORE_KEY_HEAD);
	put_be64(k->sk_data + STORE_TID_LEN + STORE_KEY_HEAD,
	    store_key_hash(key, n));
	k->sk_len += STORE_KEY_HEAD + STORE_KEY_HASH;
}

/* LMDB's default key order: bytes, then the shorter first. */
int
store_key_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	int	c;

	if ((c = memcmp(a, b, an < bn ? an : bn)) != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/*
 * A commit that failed: the write of its pages, the only time LMDB
 * writes.  ENOSPC and EDQUOT say the file system is full; LMDB turns a
 * short write, which is how a regular file meets a full disk, into EIO,
 * so an EIO with no block left to write to is a full disk too.
 */
static int
store_commit_err(struct store *st, struct err *e, int rc, const char *what)
{
	struct statvfs	 sv;
	const char	*path;

	if (rc == ENOSPC || rc == EDQUOT || (rc == EIO &&
	    mdb_env_get_path(st->st_env, &path) == 0 &&
	    statvfs(path, &sv) == 0 && sv.f_bavail == 0))
		return err_set(e, ERR_STORE_FULL, "%s: the file system holding "
		    "the store is full (%s)", what, mdb_strerror(rc == EIO ?
		    ENOSPC : rc));
	return store_mdb_err(e, rc, what);
}

int
store_mdb_err(struct err *e, int rc, const char *what)
{
	switch (rc) {
	case ENOMEM:
		return err_set(e, ERR_OUT_OF_MEMORY, "%s: out of memory", what);
	case MDB_MAP_FULL:
		return err_set(e, ERR_STORE_FULL,
		    "%s: the data store is full (raise db_map_size_mb)", what);
	case MDB_TXN_FULL:
		return err_set(e, ERR_PAYLOAD_TOO_LARGE, "%s: the write changes "
		    "more pages than one transaction may hold", what);
	default:
		return err_set(e, ERR_INTERNAL, "%s: %s", what,
		    mdb_strerror(rc));
	}
}

int
store_fail(struct item_res *res, const struct err *e)
{
	item_res_error(res, e->code, e->detail);
	return e->code == ERR_OUT_OF_MEMORY ? -1 : 0;
}

int
store_row_decode(const MDB_val *v, struct store_row *r, struct err *e)
{
	const unsigned char	*p = v->mv_data;
	uint32_t		 klen;

	if (v->mv_size < STORE_VAL_HDR)
		return err_set(e, ERR_INTERNAL, "corrupt row value");
	klen = get_be32(p + 8);
	if (klen == 0 || klen > v->mv_size - STORE_VAL_HDR)
		return err_set(e, ERR_INTERNAL, "corrupt row value");
	r->rw_etag = get_be64(p);
	r->rw_key = (const char *)p + STORE_VAL_HDR;
	r->rw_key_len = klen;
	r->rw_json = r->rw_key + klen;
	r->rw_json_len = v->mv_size - STORE_VAL_HDR - klen;
	return 0;
}

int
store_row_lookup(struct store *st, MDB_txn *txn, uint32_t tid,
    const char *key, size_t n, enum store_found *found, struct store_row *r,
    struct err *e)
{
	struct store_key	 k;
	MDB_val			 mk, mv;
	int			 rc;

	store_key_encode(&k, tid, key, n);
	mk.mv_data = k.sk_data;
	mk.mv_size = k.sk_len;
	*found = STORE_MISSING;
	if ((rc = mdb_get(txn, st->st_rows, &mk, &mv)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_mdb_err(e, rc, "row lookup");
	if (store_row_decode(&mv, r, e) == -1)
		return -1;
	if (r->rw_key_len == n && memcmp(r->rw_key, key, n) == 0)
		*found = STORE_FOUND;
	else
		*found = STORE_COLLIDES;
	return 0;
}

int
store_row_write(struct store *st, MDB_txn *txn, uint32_t tid,
    const char *key, size_t n, uint64_t etag, const char *json,
    size_t json_len, struct err *e)
{
	struct store_key	 k;
	MDB_val			 mk, mv;
	unsigned char		*p;
	int			 rc;

	if (json_len > UINT32_MAX - STORE_VAL_HDR - n)
		return err_set(e, ERR_PAYLOAD_TOO_LARGE, "row too large");
	store_key_encode(&k, tid, key, n);
	mk.mv_data = k.sk_data;
	mk.mv_size = k.sk_len;
	mv.mv_data = NULL;
	mv.mv_size = STORE_VAL_HDR + n + json_len;
	st->st_wrote = 1;
	/* MDB_RESERVE: the value is written in place, never copied twice. */
	if ((rc = mdb_put(txn, st->st_rows, &mk, &mv, MDB_RESERVE)) != 0)
		return store_mdb_err(e, rc, "row write");
	p = mv.mv_data;
	put_be64(p, etag);
	put_be32(p + 8, (uint32_t)n);
	memcpy(p + STORE_VAL_HDR, key, n);
	if (json_len > 0)
		memcpy(p + STORE_VAL_HDR + n, json, json_len);
	return 0;
}

int
store_row_del(struct store *st, MDB_txn *txn, uint32_t tid, const char *key,
    size_t n, struct err *e)
{
	struct store_key	 k;
	MDB_val			 mk;
	int			 rc;

	store_key_encode(&k, tid, key, n);
	mk.mv_data = k.sk_data;
	mk.mv_size = k.sk_len;
	st->st_wrote = 1;
	if ((rc = mdb_del(txn, st->st_rows, &mk, NULL)) != 0)
		return store_mdb_err(e, rc, "row delete");
	return 0;
}

/* "ws\0table": names are [A-Za-z0-9_-], so the NUL separates them. */
static void
store_cat_key(unsigned char *buf, MDB_val *k, struct route_str ws,
    struct route_str table)
{
	memcpy(buf, ws.p, ws.n);
	buf[ws.n] = '\0';
	memcpy(buf + ws.n + 1, table.p, table.n);
	k->mv_data = buf;
	k->mv_size = ws.n + 1 + table.n;
}

int
store_table_decode(const MDB_val *v, struct store_table *t, struct err *e)
{
	if (v->mv_size != STORE_CAT_VAL)
		return err_set(e, ERR_INTERNAL, "corrupt catalog entry");
	t->tb_id = get_be32(v->mv_data);
	t->tb_rows = get_be64((const unsigned char *)v->mv_data + 4);
	return 0;
}

int
store_table_get(struct store *st, MDB_txn *txn, struct route_str ws,
    struct route_str table, struct store_table *t, int *found, struct err *e)
{
	unsigned char	 buf[STORE_CAT_KEY_MAX];
	MDB_val		 k, v;
	int		 rc;

	store_cat_key(buf, &k, ws, table);
	*found = 0;
	if ((rc = mdb_get(txn, st->st_catalog, &k, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_mdb_err(e, rc, "catalog lookup");
	if (store_table_decode(&v, t, e) == -1)
		return -1;
	*found = 1;
	return 0;
}

int
store_table_put(struct store *st, MDB_txn *txn, struct route_str ws,
    struct route_str table, const struct store_table *t, struct err *e)
{
	unsigned char	 buf[STORE_CAT_KEY_MAX], val[STORE_CAT_VAL];
	MDB_val		 k, v;
	int		 rc;

	store_cat_key(buf, &k, ws, table);
	put_be32(val, t->tb_id);
	put_be64(val + 4, t->tb_rows);
	v.mv_data = val;
	v.mv_size = sizeof(val);
	st->st_wrote = 1;
	if ((rc = mdb_put(txn, st->st_catalog, &k, &v, 0)) != 0)
		return store_mdb_err(e, rc, "catalog write");
	return 0;
}

int
store_table_del(struct store *st, MDB_txn *txn, struct route_str ws,
    struct route_str table, struct err *e)
{
	unsigned char	 buf[STORE_CAT_KEY_MAX];
	MDB_val		 k;
	int		 rc;

	store_cat_key(buf, &k, ws, table);
	st->st_wrote = 1;
	if ((rc = mdb_del(txn, st->st_catalog, &k, NULL)) != 0)
		return store_mdb_err(e, rc, "catalog delete");
	return 0;
}

/* Read a big-endian counter from meta (missing: dflt). */
static int
store_meta_get(struct store *st, MDB_txn *txn, const char *name,
    size_t width, uint64_t dflt, uint64_t *out, struct err *e)
{
	MDB_val	 k, v;
	int	 rc;

	k.mv_data = (void *)name;
	k.mv_size = strlen(name);
	if ((rc = mdb_get(txn, st->st_meta, &k, &v)) == MDB_NOTFOUND) {
		*out = dflt;
		return 0;
	}
	if (rc != 0)
		return store_mdb_err(e, rc, "meta lookup");
	if (v.mv_size != width)
		return err_set(e, ERR_INTERNAL, "corrupt meta entry %s", name);
	*out = width == 4 ? get_be32(v.mv_data) : get_be64(v.mv_data);
	return 0;
}

static int
store_meta_put(struct store *st, MDB_txn *txn, const char *name,
    size_t width, uint64_t val, struct err *e)
{
	unsigned char	 buf[8];
	MDB_val		 k, v;
	int		 rc;

	if (width == 4)
		put_be32(buf, (uint32_t)val);
	else
		put_be64(buf, val);
	k.mv_data = (void *)name;
	k.mv_size = strlen(name);
	v.mv_data = buf;
	v.mv_size = width;
	st->st_wrote = 1;
	if ((rc = mdb_put(txn, st->st_meta, &k, &v, 0)) != 0)
		return store_mdb_err(e, rc, "meta write");
	return 0;
}

int
store_table_new(struct store *st, MDB_txn *txn, struct route_str ws,
    struct route_str table, struct store_table *t, struct err *e)
{
	uint64_t	id;

	if (store_meta_get(st, txn, meta_next_tid, 4, 1, &id, e) == -1)
		return -1;
	/* Ids are never reused: a dropped table's rows cannot resurface. */
	if (id == 0 || id == UINT32_MAX)
		return err_set(e, ERR_INTERNAL, "table ids exhausted");
	if (store_meta_put(st, txn, meta_next_tid, 4, id + 1, e) == -1)
		return -1;
	t->tb_id = (uint32_t)id;
	t->tb_rows = 0;
	return store_table_put(st, txn, ws, table, t, e);
}

int
store_etag_next(struct store *st, MDB_txn *txn, uint64_t *seq, struct err *e)
{
	uint64_t	cur;

	if (store_meta_get(st, txn, meta_etag_seq, 8, 0, &cur, e) == -1)
		return -1;
	if (cur == UINT64_MAX)
		return err_set(e, ERR_INTERNAL, "etag sequence exhausted");
	if (store_meta_put(st, txn, meta_etag_seq, 8, cur + 1, e) == -1)
		return -1;
	*seq = cur + 1;
	return 0;
}

/* "%016llx", quoted; by hand, as every read formats one. */
void
store_etag_format(char *out, uint64_t seq)
{
	static const char	hex[] = "0123456789abcdef";
	int			i;

	out[0] = '"';
	for (i = 16; i >= 1; i--, seq >>= 4)
		out[i] = hex[seq & 15];
	out[17] = '"';
	out[18] = '\0';
}

int
store_json_parse(const char *s, size_t n, json_object **out,
    enum err_code bad, const char *what, struct err *e)
{
	struct json_tokener	*tok;
	enum json_tokener_error	 jerr;
	size_t			 end;

	*out = NULL;
	if (n > INT_MAX)
		return err_set(e, bad, "%s is too large to parse", what);
	if ((tok = json_tokener_new_ex(STORE_JSON_DEPTH)) == NULL)
		return err_set(e, ERR_OUT_OF_MEMORY, "parsing %s", what);
	/* json-c has no "out of memory" parse error; malloc leaves errno. */
	errno = 0;
	*out = json_tokener_parse_ex(tok, s, (int)n);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (jerr == json_tokener_success && end < n &&
	    (s[end] == ' ' || s[end] == '\t' || s[end] == '\n' ||
	    s[end] == '\r'))
		end++;
	if (jerr == json_tokener_success && end == n)
		return 0;
	json_object_put(*out);
	*out = NULL;
	if (errno == ENOMEM)
		return err_set(e, ERR_OUT_OF_MEMORY, "parsing %s", what);
	if (jerr == json_tokener_error_depth)
		return err_set(e, bad, "%s is nested more than %d levels deep",
		    what, STORE_JSON_DEPTH);
	return err_set(e, bad, "%s is not valid JSON", what);
}

static void
store_rtxn_reset(struct store *st)
{
	if (st->st_rtxn != NULL && st->st_rlive) {
		mdb_txn_reset(st->st_rtxn);
		st->st_rlive = 0;
	}
}

/*
 * Another process may have grown the map (a reload raised
 * db_map_size_mb): adopt its size and try once more.
 */
static int
store_txn_begin(struct store *st, MDB_txn *parent, unsigned int flags,
    MDB_txn **txn)
{
	int	rc;

	if ((rc = mdb_txn_begin(st->st_env, parent, flags, txn)) ==
	    MDB_MAP_RESIZED && parent == NULL) {
		store_rtxn_reset(st);
		if ((rc = mdb_env_set_mapsize(st->st_env, 0)) == 0)
			rc = mdb_txn_begin(st->st_env, NULL, flags, txn);
	}
	return rc;
}

/* The newest committed txnid: its meta page is written (mdb_env_info
 * reads the mapped meta pages: no lock, no system call).  -1 if it
 * cannot be read. */
static int
store_last_txnid(struct store *st, uint64_t *last)
{
	MDB_envinfo	info;

	if (mdb_env_info(st->st_env, &info) != 0)
		return -1;
	*last = (uint64_t)info.me_last_txnid;
	return 0;
}

/*
 * Make the commit of txnid durable (worker/durable.h says why this order
 * is safe), sharing syncs with the other workers (shm.h, "Shared sync"):
 * a commit another worker's commit or sync already covered costs nothing,
 * and while one worker syncs, the others wait for it and then one sync
 * covers all they committed meanwhile.  The store is opened
 * MDB_NOMETASYNC: mdb_txn_commit() has flushed the pages and written the
 * meta page; mdb_env_sync() flushes that meta page.
 */
static int
store_durable(struct store *st, uint64_t txnid, struct err *e)
{
	struct store_shared_sync	*sh = &st->st_shared;
	uint64_t			 last;
	uint32_t			 none, seq;
	int				 rc;

	if (!st->st_sync)
		return 0;
	/* A commit that changed nothing wrote nothing: no txnid to wait for. */
	if (store_last_txnid(st, &last) == 0 && last < txnid)
		return 0;
	if (sh->durable == NULL) {
		if ((rc = mdb_env_sync(st->st_env, 1)) != 0)
			return err_set(e, ERR_STORE_ERROR, "sync: %s",
			    mdb_strerror(rc));
		return 0;
	}
	/* This commit flushed the file before writing its meta page. */
	durable_after_commit(sh->durable, txnid);
	for (;;) {
		if (durable_covers(sh->durable, txnid))
			return 0;
		none = 0;
		if (atomic_compare_exchange_strong(sh->owner, &none, sh->self))
			break;
		seq = atomic_load(sh->seq);
		if (atomic_load(sh->owner) != 0 &&
		    !durable_covers(sh->durable, txnid))
			futex_wait(sh->seq, seq, 100);
	}
	rc = 0;
	if (!durable_covers(sh->durable, txnid)) {
		/* Everything committed before the sync starts is covered. */
		if (store_last_txnid(st, &last) == -1 || last < txnid)
			last = txnid;
		if ((rc = mdb_env_sync(st->st_env, 1)) == 0)
			durable_after_sync(sh->durable, last);
	}
	atomic_store(sh->owner, 0);
	atomic_fetch_add(sh->seq, 1);
	futex_wake(sh->seq, INT32_MAX);
	if (rc != 0)
		return err_set(e, ERR_STORE_ERROR, "sync: %s",
		    mdb_strerror(rc));
	return 0;
}

int
store_sync_busy(const struct store *st)
{
	return st->st_sync && st->st_shared.owner != NULL &&
	    atomic_load(st->st_shared.owner) != 0;
}

/* Commit a top-level write transaction and make it durable. */
static int
store_commit(struct store *st, MDB_txn *txn, struct err *e)
{
	uint64_t	id = mdb_txn_id(txn);
	int		rc;

	if ((rc = mdb_txn_commit(txn)) != 0) {
		/* A full store or file system is said as such (507). */
		if (store_commit_err(st, e, rc, "commit") == -1 &&
		    e->code == ERR_STORE_FULL)
			return -1;
		return err_set(e, ERR_STORE_ERROR, "commit: %s",
		    mdb_strerror(rc));
	}
	return store_durable(st, id, e);
}

static int
store_rtxn(struct store *st, MDB_txn **txn, struct err *e)
{
	int	rc;

	if (st->st_group != NULL || st->st_wgroup != NULL) {
		*txn = st->st_group != NULL ? st->st_group : st->st_wgroup;
		return 0;
	}
	/*
	 * A read sees every write committed before it started: an item may
	 * depend on a write another worker committed a moment ago.  The
	 * live snapshot is kept while it is still the newest (its txnid is
	 * the last committed one: mdb_env_info() reads the meta page, no
	 * lock, no system call), so a burst of reads shares one; after any
	 * commit, the next read renews it (a reset handle renews without
	 * allocating).
	 */
	if (st->st_rtxn != NULL && st->st_rlive) {
		MDB_envinfo info;

		if (mdb_env_info(st->st_env, &info) == 0 &&
		    info.me_last_txnid == mdb_txn_id(st->st_rtxn)) {
			*txn = st->st_rtxn;
			return 0;
		}
	}
	store_rtxn_reset(st);
	if (st->st_rtxn != NULL) {
		if (mdb_txn_renew(st->st_rtxn) == 0)
			st->st_rlive = 1;
		else {
			mdb_txn_abort(st->st_rtxn);
			st->st_rtxn = NULL;
		}
	}
	if (st->st_rtxn == NULL) {
		if ((rc = store_txn_begin(st, NULL, MDB_RDONLY,
		    &st->st_rtxn)) != 0) {
			st->st_rtxn = NULL;
			return store_mdb_err(e, rc, "read transaction");
		}
		st->st_rlive = 1;
	}
	*txn = st->st_rtxn;
	return 0;
}

int
store_read(struct store *st, const struct item_req *req,
    struct item_res *res, store_op_fn fn)
{
	struct err	 e = { ERR_NONE, "" };
	MDB_txn		*txn;

	if (store_rtxn(st, &txn, &e) == -1 || fn(st, txn, req, res, &e) == -1)
		return store_fail(res, &e);
	return 0;
}

/* A write failed for lack of room: alone, in a fresh group, it may fit. */
static int
store_write_fail(struct store *st, struct item_res *res, const struct err *e)
{
	st->st_overflow = e->code == ERR_STORE_FULL ||
	    e->code == ERR_PAYLOAD_TOO_LARGE;
	return store_fail(res, e);
}

/*
 * Row writes that may run straight in the write group's transaction: each
 * checks everything that can make it fail (If-Match, a missing row, a bad
 * body, a row too large) before its first change, so once it changes
 * something only the store itself can fail it (a full map, a full
 * transaction, memory), and that is rare.
 */
static int
store_op_direct(enum route_op op)
{
	return op == OP_ROW_PUT || op == OP_ROW_CREATE ||
	    op == OP_ROW_PATCH || op == OP_ROW_DELETE;
}

int
store_write(struct store *st, const struct item_req *req,
    struct item_res *res, store_op_fn fn)
{
	struct err	 e = { ERR_NONE, "" };
	MDB_txn		*txn, *parent = st->st_group != NULL ? st->st_group :
			    st->st_wgroup;
	int		 rc;

	st->st_overflow = 0;
	store_rtxn_reset(st);
	/*
	 * A nested transaction per item costs LMDB a dirty list, a copy of
	 * every page the group already changed that the item changes too
	 * (the counters' pages, the B-tree's upper pages) and a merge into the
	 * parent at commit, which grows with the group.  A direct write
	 * skips all of it.  One that fails before its first change leaves
	 * no trace, as a nested one would; one that fails after it poisons
	 * the group, which the worker then drops and runs again, every item
	 * nested (store_poisoned).
	 */
	if (parent != NULL && parent == st->st_wgroup && st->st_direct &&
	    store_op_direct(req->op)) {
		st->st_wrote = 0;
		if (fn(st, parent, req, res, &e) == 0)
			return 0;
		st->st_poisoned = st->st_wrote;
		return store_write_fail(st, res, &e);
	}
	if ((rc = store_txn_begin(st, parent, 0, &txn)) != 0) {
		store_mdb_err(&e, rc, "write transaction");
		return store_write_fail(st, res, &e);
	}
	if (fn(st, txn, req, res, &e) == -1) {
		mdb_txn_abort(txn);
		return store_write_fail(st, res, &e);
	}
	if (parent == NULL)
		return store_commit(st, txn, &e) == -1 ?
		    store_write_fail(st, res, &e) : 0;
	if ((rc = mdb_txn_commit(txn)) != 0) {
		store_commit_err(st, &e, rc, "commit");
		return store_write_fail(st, res, &e);
	}
	return 0;
}

static int
store_name_ok(struct route_str s)
{
	size_t	i;
	char	c;

	if (s.p == NULL || s.n == 0 || s.n > ROUTE_NAME_MAX)
		return 0;
	for (i = 0; i < s.n; i++) {
		c = s.p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* The router validated all of this; a store never trusts a layout input. */
static const char *
store_req_check(const struct item_req *req)
{
	int	need_table, need_key;

	need_table = req->op != OP_TABLES_LIST;
	need_key = req->op == OP_ROW_GET || req->op == OP_ROW_PUT ||
	    req->op == OP_ROW_PATCH || req->op == OP_ROW_DELETE;
	if (!store_name_ok(req->ws))
		return "invalid workspace name";
	if (need_table && !store_name_ok(req->table))
		return "invalid table name";
	if (need_key && (req->key.p == NULL || req->key.n == 0 ||
	    req->key.n > ROUTE_KEY_MAX))
		return "row key must be 1 to 512 bytes";
	if (req->body_len > 0 && req->body == NULL)
		return "missing body";
	return NULL;
}

int
store_exec(struct store *st, const struct item_req *req, struct item_res *res)
{
	const char	*why;

	item_res_reset(res);
	switch (req->op) {
	case OP_TABLES_LIST:
	case OP_TABLE_DROP:
	case OP_ROWS_SCAN:
	case OP_ROW_CREATE:
	case OP_ROW_GET:
	case OP_ROW_PUT:
	case OP_ROW_PATCH:
	case OP_ROW_DELETE:
		break;
	default:
		return item_res_error(res, ERR_INTERNAL,
		    "not a store operation");
	}
	if ((why = store_req_check(req)) != NULL)
		return item_res_error(res, ERR_BAD_REQUEST, why);
	switch (req->op) {
	case OP_TABLES_LIST:
		return store_read(st, req, res, tables_list);
	case OP_TABLE_DROP:
		return store_write(st, req, res, tables_drop);
	case OP_ROWS_SCAN:
		return store_read(st, req, res, rows_scan);
	case OP_ROW_CREATE:
		return store_write(st, req, res, rows_create);
	case OP_ROW_GET:
		return store_read(st, req, res, rows_get);
	case OP_ROW_PUT:
		return store_write(st, req, res, rows_put);
	case OP_ROW_PATCH:
		return store_write(st, req, res, rows_patch);
	default:
		return store_write(st, req, res, rows_delete);
	}
}

int
store_table_iter(struct store *st, struct route_str ws,
    struct route_str table, store_row_cb cb, void *arg, struct err *e)
{
	return store_table_range(st, ws, table, NULL, NULL, cb, arg, e);
}

int
store_table_range(struct store *st, struct route_str ws,
    struct route_str table, const struct route_str *lo,
    const struct route_str *hi, store_row_cb cb, void *arg, struct err *e)
{
	MDB_txn	*txn;

	if (!store_name_ok(ws) || !store_name_ok(table))
		return err_set(e, ERR_BAD_REQUEST, "invalid name");
	if (store_rtxn(st, &txn, e) == -1)
		return -1;
	return rows_iter(st, txn, ws, table, lo, hi, cb, arg, e);
}

int
store_table_span(struct store *st, struct route_str ws,
    struct route_str table, struct store_span *sp, struct err *e)
{
	MDB_txn	*txn;

	memset(sp, 0, sizeof(*sp));
	if (!store_name_ok(ws) || !store_name_ok(table))
		return 0;
	if (store_rtxn(st, &txn, e) == -1)
		return -1;
	return rows_span(st, txn, ws, table, sp, e);
}

void
store_idle(struct store *st)
{
	store_rtxn_reset(st);
}

int
store_group_begin(struct store *st, struct err *e)
{
	int	rc;

	if (st->st_group != NULL)
		return err_set(e, ERR_INTERNAL,
		    "an atomicity group is already open");
	store_rtxn_reset(st);
	if ((rc = store_txn_begin(st, st->st_wgroup, 0, &st->st_group)) != 0) {
		st->st_group = NULL;
		return store_mdb_err(e, rc, "group transaction");
	}
	return 0;
}

int
store_group_end(struct store *st, int commit, struct err *e)
{
	MDB_txn	*txn = st->st_group;
	int	 rc;

	if (txn == NULL)
		return err_set(e, ERR_INTERNAL, "no atomicity group is open");
	st->st_group = NULL;
	if (!commit) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (st->st_wgroup == NULL)
		return store_commit(st, txn, e);
	if ((rc = mdb_txn_commit(txn)) != 0)
		return store_commit_err(st, e, rc, "group commit");
	return 0;
}

int
store_wgroup_begin(struct store *st, struct err *e)
{
	int	rc;

	if (st->st_wgroup != NULL || st->st_group != NULL)
		return err_set(e, ERR_INTERNAL, "a write group is already open");
	store_rtxn_reset(st);
	st->st_poisoned = 0;
	if ((rc = store_txn_begin(st, NULL, 0, &st->st_wgroup)) != 0) {
		st->st_wgroup = NULL;
		return store_mdb_err(e, rc, "write group transaction");
	}
	return 0;
}

int
store_wgroup_commit(struct store *st, struct err *e)
{
	MDB_txn	*txn = st->st_wgroup;

	if (txn == NULL)
		return err_set(e, ERR_INTERNAL, "no write group is open");
	if (st->st_poisoned) {
		/* Never commit half an item: the caller redoes the group. */
		store_wgroup_abort(st);
		return err_set(e, ERR_INTERNAL,
		    "write group holds a half-applied write");
	}
	st->st_wgroup = NULL;
	return store_commit(st, txn, e);
}

void
store_wgroup_abort(struct store *st)
{
	if (st->st_group != NULL)
		mdb_txn_abort(st->st_group);
	if (st->st_wgroup != NULL)
		mdb_txn_abort(st->st_wgroup);
	st->st_group = st->st_wgroup = NULL;
	st->st_poisoned = 0;
}

int
store_wgroup_open(const struct store *st)
{
	return st->st_wgroup != NULL;
}

void
store_direct(struct store *st, int on)
{
	st->st_direct = on;
}

int
store_poisoned(const struct store *st)
{
	return st->st_poisoned;
}

int
store_overflowed(const struct store *st)
{
	return st->st_overflow;
}

/* mkdir -p: every missing component of path, then check it is a dir. */
static int
store_mkdirs(const char *path, char *err, size_t errlen)
{
	char		*p, *s, c;
	struct stat	 sb;

	if ((p = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		if (s[-1] != '/') {
			*s = '\0';
			if (mkdir(p, 0750) == -1 && errno != EEXIST) {
				snprintf(err, errlen, "mkdir %s: %s", p,
				    strerror(errno));
				free(p);
				return -1;
			}
			*s = c;
		}
		if (c == '\0')
			break;
	}
	free(p);
	if (stat(path, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	return 0;
}

int
store_open(struct store **stp, const struct store_opts *o, char *err,
    size_t errlen)
{
	struct store	*st;
	MDB_txn		*txn = NULL;
	unsigned int	 flags = 0;
	int		 rc, dead;
	const char	*step;

	*stp = NULL;
	if (o->path == NULL || o->path[0] == '\0') {
		snprintf(err, errlen, "store: no db_path");
		return -1;
	}
	if (o->map_size_mb > SIZE_MAX >> 20) {
		snprintf(err, errlen, "store: db_map_size_mb too large");
		return -1;
	}
	if (store_mkdirs(o->path, err, errlen) == -1)
		return -1;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return -1;
	}
	st->st_max_result = o->max_result_bytes;
	st->st_sync = o->sync;
	st->st_shared = o->shared;
	st->st_direct = 1;
	/*
	 * db_sync on: a commit flushes its pages before it writes its meta
	 * page, unflushed; store_durable() makes that meta page durable, one
	 * sync for many commits (worker/durable.h).  MDB_NOSYNC would let a
	 * meta page reach the disk before its pages, and let a commit reuse
	 * pages of the last meta on disk: a system crash could then corrupt
	 * the store.  db_sync off takes that risk for speed (README).
	 */
	flags |= st->st_sync ? MDB_NOMETASYNC : MDB_NOSYNC;
	step = "mdb_env_create";
	if ((rc = mdb_env_create(&st->st_env)) != 0) {
		st->st_env = NULL;
		goto fail;
	}
	step = "mdb_env_set_maxdbs";
	if ((rc = mdb_env_set_maxdbs(st->st_env, STORE_MAXDBS)) != 0)
		goto fail;
	step = "mdb_env_set_mapsize";
	if (o->map_size_mb > 0 && (rc = mdb_env_set_mapsize(st->st_env,
	    o->map_size_mb << 20)) != 0)
		goto fail;
	step = "mdb_env_open";
	if ((rc = mdb_env_open(st->st_env, o->path, flags, 0640)) != 0)
		goto fail;
	/* Workers killed mid-read leave reader slots that pin old pages. */
	step = "mdb_reader_check";
	if ((rc = mdb_reader_check(st->st_env, &dead)) != 0)
		goto fail;
	step = "mdb_txn_begin";
	if ((rc = mdb_txn_begin(st->st_env, NULL, 0, &txn)) != 0)
		goto fail;
	step = "mdb_dbi_open";
	if ((rc = mdb_dbi_open(txn, "catalog", MDB_CREATE,
	    &st->st_catalog)) != 0 ||
	    (rc = mdb_dbi_open(txn, "rows", MDB_CREATE, &st->st_rows)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->st_meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "async", MDB_CREATE, &st->st_async)) != 0)
		goto fail;
	step = "mdb_txn_commit";
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	*stp = st;
	return 0;

fail:
	snprintf(err, errlen, "store %s: %s: %s", o->path, step,
	    mdb_strerror(rc));
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (st->st_env != NULL)
		mdb_env_close(st->st_env);
	free(st);
	return -1;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_wgroup_abort(st);
	if (st->st_rtxn != NULL)
		mdb_txn_abort(st->st_rtxn);
	mdb_env_close(st->st_env);
	free(st);
}
