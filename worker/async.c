/*
 * async.c - persistence of asynchronous batches (layout in async.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "async.h"
#include "clock.h"
#include "rows.h"

#define ASYNC_KEY_MAX	(1 + 64 + 4)

struct async_key {
	unsigned char	 ak_data[ASYNC_KEY_MAX];
	size_t		 ak_len;
};

static int
async_key(struct async_key *k, char kind, struct route_str id, int with_seq,
    uint32_t seq)
{
	if (id.p == NULL || id.n == 0 || id.n > 64)
		return -1;
	k->ak_data[0] = (unsigned char)kind;
	memcpy(k->ak_data + 1, id.p, id.n);
	k->ak_len = 1 + id.n;
	if (with_seq) {
		k->ak_data[k->ak_len++] = (unsigned char)(seq >> 24);
		k->ak_data[k->ak_len++] = (unsigned char)(seq >> 16);
		k->ak_data[k->ak_len++] = (unsigned char)(seq >> 8);
		k->ak_data[k->ak_len++] = (unsigned char)seq;
	}
	return 0;
}

static long
async_decimal(struct route_str s, long dflt)
{
	char	 tmp[24], *end;
	long	 v;

	if (s.p == NULL || s.n == 0 || s.n >= sizeof(tmp))
		return dflt;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = '\0';
	v = strtol(tmp, &end, 10);
	return *end == '\0' && v >= 0 ? v : dflt;
}

/* The batch's counters ('N'): records stored, of which status >= 400. */
struct async_count {
	uint32_t	next;
	uint32_t	failed;
};

static int
async_count_get(struct store *st, MDB_txn *txn, struct route_str id,
    struct async_count *n, struct err *e)
{
	struct async_key	 k;
	MDB_val			 key, val;
	int			 rc;

	memset(n, 0, sizeof(*n));
	if (async_key(&k, 'N', id, 0, 0) == -1)
		return err_set(e, ERR_BAD_REQUEST, "bad batch id");
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	if ((rc = mdb_get(txn, st->st_async, &key, &val)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_mdb_err(e, rc, "async counters");
	if (val.mv_size == sizeof(*n))
		memcpy(n, val.mv_data, sizeof(*n));
	return 0;
}

/*
 * Store one rendered answer of item idx of batch id: under the next seq
 * (the order answers were stored in, which is what pages follow), unless
 * one is stored for that item already ('I': a worker that died while its
 * group committed may have stored the answer the master then gives as a
 * crash; the first one stays).
 */
static int
async_put_record(struct store *st, MDB_txn *txn, struct route_str id,
    uint32_t idx, int status, const void *rec, size_t len, struct err *e)
{
	struct async_key	 k;
	struct async_count	 n;
	MDB_val			 key, val;
	int			 rc;

	if (async_count_get(st, txn, id, &n, e) == -1)
		return -1;
	async_key(&k, 'I', id, 1, idx);
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	val.mv_data = &n.next;
	val.mv_size = sizeof(n.next);
	if ((rc = mdb_put(txn, st->st_async, &key, &val,
	    MDB_NOOVERWRITE)) == MDB_KEYEXIST)
		return 0;
	if (rc != 0)
		return store_mdb_err(e, rc, "async record index");
	async_key(&k, 'R', id, 1, n.next);
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	val.mv_data = (void *)rec;
	val.mv_size = len;
	if ((rc = mdb_put(txn, st->st_async, &key, &val, 0)) != 0)
		return store_mdb_err(e, rc, "async record");
	n.next++;
	if (status >= 400)
		n.failed++;
	async_key(&k, 'N', id, 0, 0);
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	val.mv_data = &n;
	val.mv_size = sizeof(n);
	if ((rc = mdb_put(txn, st->st_async, &key, &val, 0)) != 0)
		return store_mdb_err(e, rc, "async counters");
	return 0;
}

int
async_record(struct store *st, const struct item_req *rq, uint32_t idx,
    const struct item_res *res, struct err *e)
{
	static struct buf	 rec = BUF_INIT;
	MDB_txn			*txn = st->st_group != NULL ? st->st_group :
				    st->st_wgroup;
	struct item_head	 h = {
		.id = rq->item_id.p, .id_len = rq->item_id.n,
		.agroup = rq->agroup.n > 0 ? rq->agroup.p : NULL,
		.agroup_len = rq->agroup.n, .status = res->status,
		.etag = res->etag, .etag_len = strlen(res->etag),
		.loc = res->location.data, .loc_len = res->location.len,
		.body_len = res->body.len,
	};

	if (txn == NULL)
		return err_set(e, ERR_INTERNAL, "no write transaction");
	buf_reset(&rec);
	if (item_render_head(&rec, &h) == -1 ||
	    buf_append(&rec, res->body.data, res->body.len) == -1 ||
	    buf_putc(&rec, '}') == -1)
		return err_set(e, ERR_OUT_OF_MEMORY, "async record");
	return async_put_record(st, txn, rq->async_id, idx, res->status,
	    rec.data, rec.len, e);
}

/* The master's own answers: meta replaced, records added (async_item.h). */
static int
async_save(struct store *st, MDB_txn *txn, const struct item_req *rq,
    struct item_res *res, struct err *e)
{
	struct async_key	 k;
	MDB_val			 key, val;
	const char		*p = rq->body;
	size_t			 left = rq->body_len;
	uint32_t		 mlen, idx, status, len;
	int			 rc;

	if (left < 4 || async_key(&k, 'M', rq->key, 0, 0) == -1)
		return err_set(e, ERR_BAD_REQUEST, "malformed async save");
	memcpy(&mlen, p, 4);
	if (mlen > left - 4)
		return err_set(e, ERR_BAD_REQUEST, "malformed async save");
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	val.mv_data = (void *)(p + 4);
	val.mv_size = mlen;
	if ((rc = mdb_put(txn, st->st_async, &key, &val, 0)) != 0)
		return store_mdb_err(e, rc, "async meta");
	p += 4 + mlen;
	left -= 4 + mlen;
	while (left > 0) {
		if (left < 12)
			return err_set(e, ERR_BAD_REQUEST, "malformed async save");
		memcpy(&idx, p, 4);
		memcpy(&status, p + 4, 4);
		memcpy(&len, p + 8, 4);
		if (len > left - 12)
			return err_set(e, ERR_BAD_REQUEST, "malformed async save");
		if (async_put_record(st, txn, rq->key, idx, (int)status,
		    p + 12, len, e) == -1)
			return -1;
		p += 12 + len;
		left -= 12 + len;
	}
	res->status = 204;
	return 0;
}

/* Delete every key kind || id || u32 of one batch. */
static int
async_drop_seq(struct store *st, MDB_txn *txn, char kind, struct route_str id,
    struct err *e)
{
	struct async_key	 k;
	MDB_cursor		*c;
	MDB_val			 key, val;
	int			 rc;

	async_key(&k, kind, id, 0, 0);
	if ((rc = mdb_cursor_open(txn, st->st_async, &c)) != 0)
		return store_mdb_err(e, rc, "async cursor");
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	while (rc == 0 && key.mv_size == k.ak_len + 4 &&
	    memcmp(key.mv_data, k.ak_data, k.ak_len) == 0) {
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		rc = mdb_cursor_get(c, &key, &val, MDB_GET_CURRENT);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc == 0 && key.mv_size == k.ak_len + 4 &&
		    memcmp(key.mv_data, k.ak_data, k.ak_len) == 0)
			continue;
		rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 :
	    store_mdb_err(e, rc, "async drop");
}

/* Drop meta, counters, records and their index of one batch. */
static int
async_drop(struct store *st, MDB_txn *txn, struct route_str id, struct err *e)
{
	struct async_key	 k;
	MDB_val			 key;
	const char		*kinds = "MN";
	int			 rc;

	for (; *kinds != '\0'; kinds++) {
		if (async_key(&k, *kinds, id, 0, 0) == -1)
			return err_set(e, ERR_BAD_REQUEST, "bad batch id");
		key.mv_data = k.ak_data;
		key.mv_size = k.ak_len;
		if ((rc = mdb_del(txn, st->st_async, &key, NULL)) != 0 &&
		    rc != MDB_NOTFOUND)
			return store_mdb_err(e, rc, "async drop");
	}
	if (async_drop_seq(st, txn, 'R', id, e) == -1)
		return -1;
	return async_drop_seq(st, txn, 'I', id, e);
}

static const char *
async_str(json_object *o, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(o, name, &v) &&
	    json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : "";
}

static int64_t
async_int(json_object *o, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(o, name, &v) ?
	    json_object_get_int64(v) : 0;
}

static int
async_get(struct store *st, MDB_txn *txn, const struct item_req *rq,
    struct item_res *res, struct err *e)
{
	struct async_key	 k;
	MDB_cursor		*c;
	MDB_val			 key, val;
	json_object		*meta = NULL;
	const char		*status, *owner;
	struct buf		*b = &res->body;
	long			 offset, limit, ttl, n = 0;
	size_t			 max_bytes, used = 0;
	int64_t			 finished;
	int			 rc, more = 0, live;

	if (async_key(&k, 'M', rq->key, 0, 0) == -1)
		return err_set(e, ERR_NOT_FOUND, "no such batch");
	live = rq->ws.n == 4 && memcmp(rq->ws.p, "live", 4) == 0;
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	/* A live batch (the master checked its owner and gives the summary)
	 * may have stored answers before its meta. */
	if ((rc = mdb_get(txn, st->st_async, &key, &val)) == MDB_NOTFOUND &&
	    live) {
		val.mv_data = (void *)"{}";
		val.mv_size = 2;
	} else if (rc == MDB_NOTFOUND)
		return err_set(e, ERR_NOT_FOUND, "no such batch");
	else if (rc != 0)
		return store_mdb_err(e, rc, "async meta");
	if (store_json_parse(val.mv_data, val.mv_size, &meta, ERR_INTERNAL,
	    "async meta", e) == -1)
		return -1;
	owner = async_str(meta, "owner");
	if (!live && (strlen(owner) != (rq->query.p ? rq->query.n : 0) ||
	    (rq->query.n > 0 && memcmp(owner, rq->query.p, rq->query.n) != 0))) {
		json_object_put(meta);
		return err_set(e, ERR_NOT_FOUND, "no such batch");
	}
	ttl = async_decimal(rq->timespan, 3600);
	finished = async_int(meta, "finished_at_ms");
	if (finished > 0 && wall_ms() > finished + (int64_t)ttl * 1000) {
		json_object_put(meta);
		if (async_drop(st, txn, rq->key, e) == -1)
			return -1;
		/* An answer, not a failure: the drop must commit. */
		return item_res_error(res, ERR_NOT_FOUND,
		    "batch results expired");
	}
	status = async_str(meta, "status");
	if (!live && (strcmp(status, "queued") == 0 ||
	    strcmp(status, "running") == 0)) {
		/* Not run by the master: a restart cut it short.  What ran
		 * is what was stored (every record is stored with its item):
		 * the counters say how much. */
		struct async_count	 cnt;
		const char		*js;
		size_t			 jl;

		if (async_count_get(st, txn, rq->key, &cnt, e) == -1) {
			json_object_put(meta);
			return -1;
		}
		json_object_object_add(meta, "completed",
		    json_object_new_int64(cnt.next));
		json_object_object_add(meta, "failed",
		    json_object_new_int64(cnt.failed));
		json_object_object_add(meta, "status",
		    json_object_new_string("cancelled"));
		json_object_object_add(meta, "finished_at_ms",
		    json_object_new_int64(wall_ms()));
		js = json_object_to_json_string_length(meta,
		    JSON_C_TO_STRING_PLAIN, &jl);
		val.mv_data = (void *)js;
		val.mv_size = jl;
		if ((rc = mdb_put(txn, st->st_async, &key, &val, 0)) != 0) {
			json_object_put(meta);
			return store_mdb_err(e, rc, "async meta");
		}
		status = "cancelled";
	}
	offset = async_decimal(rq->after, 0);
	limit = rq->limit > 0 && rq->limit <= ASYNC_PAGE_MAX ? rq->limit :
	    ASYNC_PAGE_DEFAULT;
	/* The page must also fit one completion record. */
	max_bytes = (size_t)async_decimal(rq->prefix, 0);
	if (st->st_max_result > 0 && (max_bytes == 0 ||
	    max_bytes > st->st_max_result / 2))
		max_bytes = st->st_max_result / 2;
	if (max_bytes == 0)
		max_bytes = SIZE_MAX;
	buf_puts(b, "{\"batch\":{\"id\":");
	buf_json_str(b, rq->key.p, rq->key.n);
	buf_puts(b, ",\"status\":");
	buf_json_str(b, status, strlen(status));
	buf_printf(b, ",\"total\":%lld,\"completed\":%lld,\"failed\":%lld,"
	    "\"created_at\":", (long long)async_int(meta, "total"),
	    (long long)async_int(meta, "completed"),
	    (long long)async_int(meta, "failed"));
	buf_json_str(b, async_str(meta, "created_at"),
	    strlen(async_str(meta, "created_at")));
	buf_puts(b, "},\"responses\":[");
	json_object_put(meta);

	async_key(&k, 'R', rq->key, 1, (uint32_t)offset);
	if ((rc = mdb_cursor_open(txn, st->st_async, &c)) != 0)
		return store_mdb_err(e, rc, "async cursor");
	key.mv_data = k.ak_data;
	key.mv_size = k.ak_len;
	rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	while (rc == 0 && key.mv_size == k.ak_len &&
	    memcmp(key.mv_data, k.ak_data, k.ak_len - 4) == 0) {
		if (n == limit || (n > 0 && used + val.mv_size > max_bytes)) {
			more = 1;
			break;
		}
		used += val.mv_size + 1;
		if (n++ > 0)
			buf_putc(b, ',');
		buf_append(b, val.mv_data, val.mv_size);
		rc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (more || live)
		buf_printf(b, "],\"next_offset\":%ld}", offset + n);
	else
		buf_puts(b, "],\"next_offset\":null}");
	if (b->data == NULL)
		return err_set(e, ERR_OUT_OF_MEMORY, "async page");
	res->status = 200;
	return 0;
}

static int
async_purge(struct store *st, MDB_txn *txn, const struct item_req *rq,
    struct item_res *res, struct err *e)
{
	MDB_cursor		*c;
	MDB_val			 key, val;
	json_object		*meta;
	char			 ids[64][65];
	struct route_str	 id;
	long			 ttl = async_decimal(rq->timespan, 3600), n = 0, i;
	long			 max = rq->limit > 0 && rq->limit < 64 ? rq->limit : 64;
	int64_t			 now = wall_ms(), fin;
	struct err		 pe;
	unsigned char		 m = 'M';
	int			 rc;

	if ((rc = mdb_cursor_open(txn, st->st_async, &c)) != 0)
		return store_mdb_err(e, rc, "async cursor");
	key.mv_data = &m;
	key.mv_size = 1;
	rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	while (rc == 0 && n < max && key.mv_size > 1 &&
	    ((unsigned char *)key.mv_data)[0] == 'M') {
		if (key.mv_size - 1 <= 64 && store_json_parse(val.mv_data,
		    val.mv_size, &meta, ERR_INTERNAL, "meta", &pe) == 0) {
			fin = async_int(meta, "finished_at_ms");
			if (fin > 0 && now > fin + (int64_t)ttl * 1000) {
				memcpy(ids[n], (char *)key.mv_data + 1,
				    key.mv_size - 1);
				ids[n][key.mv_size - 1] = '\0';
				n++;
			}
			json_object_put(meta);
		}
		rc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(c);
	for (i = 0; i < n; i++) {
		id.p = ids[i];
		id.n = strlen(ids[i]);
		if (async_drop(st, txn, id, e) == -1)
			return -1;
	}
	res->status = 200;
	return buf_printf(&res->body, "{\"purged\":%ld}", n) == -1 ?
	    err_set(e, ERR_OUT_OF_MEMORY, "purge") : 0;
}

int
async_exec(struct store *st, const struct item_req *rq, struct item_res *res)
{
	switch (rq->op) {
	case OP_ASYNC_SAVE:
		return store_write(st, rq, res, async_save);
	case OP_ASYNC_GET:
		return store_write(st, rq, res, async_get);
	case OP_ASYNC_PURGE:
		return store_write(st, rq, res, async_purge);
	default:
		return item_res_error(res, ERR_INTERNAL, "not an async operation");
	}
}
