/*
 * rows.c - the row and table operations of SPEC section 2.
 *
 * Each operation runs inside a transaction handed to it by store.c and
 * returns 0 with res filled, or -1 with e filled; a write's transaction is
 * committed only on 0, so an operation may fail after writing.  A result
 * is built completely before returning 0, so running out of memory never
 * commits a write the client is not told about.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "merge_patch.h"
#include "rows.h"
#include "scan_ahead.h"

#define ROWS_GEN_KEY_BYTES	16	/* 32 hex digits */
/* Room around a row in a one-row scan page: a 512-byte key escaped as
 * \u00XX everywhere, its ETag and the framing. */
#define ROWS_RESULT_SLACK	8192

/* What a write or read found for its row, and its current ETag. */
struct rows_at {
	struct store_table	 ra_table;
	int			 ra_table_found;
	enum store_found	 ra_found;
	struct store_row	 ra_row;
	char			 ra_etag[ITEM_ETAG_MAX];
};

enum rows_precond {
	PRECOND_OK = 0,
	PRECOND_FAILED,		/* 412 */
	PRECOND_NOT_MODIFIED	/* 304, reads only */
};

static int
rows_locate(struct store *st, MDB_txn *txn, const struct item_req *req,
    const char *key, size_t n, struct rows_at *at, struct err *e)
{
	at->ra_found = STORE_MISSING;
	at->ra_etag[0] = '\0';
	if (store_table_get(st, txn, req->ws, req->table, &at->ra_table,
	    &at->ra_table_found, e) == -1)
		return -1;
	if (at->ra_table_found && store_row_lookup(st, txn,
	    at->ra_table.tb_id, key, n, &at->ra_found, &at->ra_row, e) == -1)
		return -1;
	if (at->ra_found == STORE_FOUND)
		store_etag_format(at->ra_etag, at->ra_row.rw_etag);
	return 0;
}

static int
rows_missing(const struct rows_at *at, struct err *e)
{
	return err_set(e, ERR_NOT_FOUND, at->ra_table_found ?
	    "row not found" : "table not found");
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Is the header there at all?  An empty value counts as absent. */
static int
hdr_present(struct route_str h)
{
	size_t	i;

	for (i = 0; h.p != NULL && i < h.n; i++)
		if (!is_ows(h.p[i]))
			return 1;
	return 0;
}

static int
hdr_is_star(struct route_str h)
{
	size_t	i = 0, n = h.n;

	while (i < n && is_ows(h.p[i]))
		i++;
	while (n > i && is_ows(h.p[n - 1]))
		n--;
	return n - i == 1 && h.p[i] == '*';
}

/*
 * Does the list of entity-tags in h hold etag?  RFC 9110 section 8.8.3.2:
 * the strong comparison (If-Match) never matches a weak tag, the weak one
 * (If-None-Match) ignores W/.  A malformed member matches nothing.
 */
static int
etag_list_match(struct route_str h, const char *etag, int weak_ok)
{
	const char	*p = h.p, *end = h.p + h.n, *q;
	size_t		 elen = strlen(etag);
	int		 weak;

	while (p < end) {
		while (p < end && (is_ows(*p) || *p == ','))
			p++;
		if (p == end)
			break;
		weak = 0;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
			weak = 1;
			p += 2;
		}
		if (p < end && *p == '"') {
			if ((q = memchr(p + 1, '"', (size_t)(end - p - 1))) ==
			    NULL)
				break;
			if ((!weak || weak_ok) && (size_t)(q + 1 - p) == elen &&
			    memcmp(p, etag, elen) == 0)
				return 1;
			p = q + 1;
		}
		while (p < end && *p != ',')
			p++;
	}
	return 0;
}

/*
 * RFC 9110 section 13.2.2: If-Match first, then If-None-Match.  etag is
 * NULL when the row does not exist.
 */
static enum rows_precond
rows_precond(const struct item_req *req, const char *etag, int read)
{
	if (hdr_present(req->if_match)) {
		if (etag == NULL)
			return PRECOND_FAILED;
		if (!hdr_is_star(req->if_match) &&
		    !etag_list_match(req->if_match, etag, 0))
			return PRECOND_FAILED;
	}
	if (hdr_present(req->if_none_match) && etag != NULL &&
	    (hdr_is_star(req->if_none_match) ||
	    etag_list_match(req->if_none_match, etag, 1)))
		return read ? PRECOND_NOT_MODIFIED : PRECOND_FAILED;
	return PRECOND_OK;
}

static int
rows_precond_err(struct err *e)
{
	return err_set(e, ERR_PRECONDITION_FAILED, NULL);
}

static int
rows_need_object(const struct item_req *req, struct err *e)
{
	if (req->body_kind != BODY_OBJECT)
		return err_set(e, ERR_BAD_REQUEST,
		    "body must be a JSON object");
	return 0;
}

static int
rows_oom(struct err *e, const char *what)
{
	return err_set(e, ERR_OUT_OF_MEMORY, "%s", what);
}

/* The table to write into, created on first write. */
static int
rows_table_ensure(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct rows_at *at, struct err *e)
{
	if (at->ra_table_found)
		return 0;
	if (store_table_new(st, txn, req->ws, req->table, &at->ra_table,
	    e) == -1)
		return -1;
	at->ra_table_found = 1;
	return 0;
}

/*
 * Store json under key with a fresh ETag, keep the row count, and answer
 * status with the stored row as body.
 */
static int
rows_store(struct store *st, MDB_txn *txn, const struct item_req *req,
    const char *key, size_t n, const char *json, size_t json_len,
    struct rows_at *at, int status, struct item_res *res, struct err *e)
{
	uint64_t	seq;

	/* A row must stay readable: GET and a one-row scan page return it. */
	if (st->st_max_result > 0 && (json_len > st->st_max_result ||
	    st->st_max_result - json_len < ROWS_RESULT_SLACK))
		return err_set(e, ERR_PAYLOAD_TOO_LARGE, "the row would be "
		    "%zu bytes; rows may be at most %zu", json_len,
		    st->st_max_result - ROWS_RESULT_SLACK);
	if (rows_table_ensure(st, txn, req, at, e) == -1 ||
	    store_etag_next(st, txn, &seq, e) == -1 ||
	    store_row_write(st, txn, at->ra_table.tb_id, key, n, seq, json,
	    json_len, e) == -1)
		return -1;
	if (at->ra_found == STORE_MISSING) {
		at->ra_table.tb_rows++;
		if (store_table_put(st, txn, req->ws, req->table,
		    &at->ra_table, e) == -1)
			return -1;
	}
	if (buf_append(&res->body, json, json_len) == -1)
		return rows_oom(e, "row body");
	store_etag_format(res->etag, seq);
	res->status = status;
	return 0;
}

int
rows_get(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct rows_at		at;
	enum rows_precond	pc;

	if (rows_locate(st, txn, req, req->key.p, req->key.n, &at, e) == -1)
		return -1;
	pc = rows_precond(req, at.ra_found == STORE_FOUND ? at.ra_etag : NULL,
	    1);
	if (pc == PRECOND_FAILED)
		return rows_precond_err(e);
	if (at.ra_found != STORE_FOUND)
		return rows_missing(&at, e);
	memcpy(res->etag, at.ra_etag, sizeof(res->etag));
	if (pc == PRECOND_NOT_MODIFIED) {
		res->status = 304;
		return 0;
	}
	if (buf_append(&res->body, at.ra_row.rw_json,
	    at.ra_row.rw_json_len) == -1)
		return rows_oom(e, "row body");
	res->status = 200;
	return 0;
}

int
rows_put(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct rows_at	at;

	if (rows_need_object(req, e) == -1 ||
	    rows_locate(st, txn, req, req->key.p, req->key.n, &at, e) == -1)
		return -1;
	if (rows_precond(req, at.ra_found == STORE_FOUND ? at.ra_etag : NULL,
	    0) != PRECOND_OK)
		return rows_precond_err(e);
	if (at.ra_found == STORE_COLLIDES)
		return err_set(e, ERR_CONFLICT,
		    "row key collides with a stored key");
	return rows_store(st, txn, req, req->key.p, req->key.n, req->body,
	    req->body_len, &at, at.ra_found == STORE_FOUND ? 200 : 201, res, e);
}

/* 32 lowercase hex digits from the kernel's generator. */
static int
rows_gen_key(char *out, struct err *e)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 rnd[ROWS_GEN_KEY_BYTES];
	size_t			 got = 0, i;
	ssize_t			 r;

	while (got < sizeof(rnd)) {
		if ((r = getrandom(rnd + got, sizeof(rnd) - got, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return err_set(e, ERR_INTERNAL, "getrandom: %s",
			    strerror(errno));
		}
		got += (size_t)r;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	return 0;
}

/* The key of a POST: the body's "id", else a generated one. */
static int
rows_create_key(const struct item_req *req, char *key, size_t *n,
    struct err *e)
{
	json_object	*obj, *id;
	const char	*s;
	int		 len, rc = 0;

	if (store_json_parse(req->body, req->body_len, &obj, ERR_BAD_REQUEST,
	    "body", e) == -1)
		return -1;
	if (!json_object_object_get_ex(obj, "id", &id)) {
		json_object_put(obj);
		*n = 2 * ROWS_GEN_KEY_BYTES;
		return rows_gen_key(key, e);
	}
	if (!json_object_is_type(id, json_type_string) ||
	    (len = json_object_get_string_len(id)) <= 0 ||
	    len > ROUTE_KEY_MAX ||
	    !utf8_valid((s = json_object_get_string(id)), (size_t)len))
		rc = err_set(e, ERR_BAD_REQUEST, "\"id\" must be a non-empty "
		    "UTF-8 string of at most %d bytes", ROUTE_KEY_MAX);
	else {
		memcpy(key, s, (size_t)len);
		*n = (size_t)len;
	}
	json_object_put(obj);
	return rc;
}

static int
rows_location(struct item_res *res, const struct item_req *req,
    const char *key, size_t n)
{
	if (buf_puts(&res->location, "/v1/workspaces/") == -1 ||
	    buf_append(&res->location, req->ws.p, req->ws.n) == -1 ||
	    buf_puts(&res->location, "/tables/") == -1 ||
	    buf_append(&res->location, req->table.p, req->table.n) == -1 ||
	    buf_puts(&res->location, "/rows/") == -1 ||
	    url_encode_segment(&res->location, key, n) == -1)
		return -1;
	return 0;
}

int
rows_create(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct rows_at	at;
	char		key[ROUTE_KEY_MAX];
	size_t		n;

	if (rows_need_object(req, e) == -1 ||
	    rows_create_key(req, key, &n, e) == -1 ||
	    rows_locate(st, txn, req, key, n, &at, e) == -1)
		return -1;
	if (rows_precond(req, at.ra_found == STORE_FOUND ? at.ra_etag : NULL,
	    0) != PRECOND_OK)
		return rows_precond_err(e);
	if (at.ra_found != STORE_MISSING)
		return err_set(e, ERR_CONFLICT,
		    "a row with this key already exists");
	if (rows_store(st, txn, req, key, n, req->body, req->body_len, &at,
	    201, res, e) == -1)
		return -1;
	if (rows_location(res, req, key, n) == -1)
		return rows_oom(e, "location");
	return 0;
}

int
rows_patch(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct rows_at	 at;
	json_object	*row = NULL, *patch = NULL;
	const char	*out;
	size_t		 len;
	int		 rc = -1;

	if (rows_need_object(req, e) == -1 ||
	    rows_locate(st, txn, req, req->key.p, req->key.n, &at, e) == -1)
		return -1;
	if (rows_precond(req, at.ra_found == STORE_FOUND ? at.ra_etag : NULL,
	    0) != PRECOND_OK)
		return rows_precond_err(e);
	if (at.ra_found != STORE_FOUND)
		return rows_missing(&at, e);
	/* Parse the stored row before any write moves its pages. */
	if (store_json_parse(at.ra_row.rw_json, at.ra_row.rw_json_len, &row,
	    ERR_INTERNAL, "stored row", e) == -1 ||
	    store_json_parse(req->body, req->body_len, &patch,
	    ERR_BAD_REQUEST, "body", e) == -1)
		goto done;
	if (merge_patch_apply(&row, patch) == -1) {
		rows_oom(e, "merge patch");
		goto done;
	}
	if ((out = json_object_to_json_string_length(row,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
	    &len)) == NULL) {
		rows_oom(e, "serialising row");
		goto done;
	}
	rc = rows_store(st, txn, req, req->key.p, req->key.n, out, len, &at,
	    200, res, e);
done:
	json_object_put(row);
	json_object_put(patch);
	return rc;
}

int
rows_delete(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct rows_at	at;

	if (rows_locate(st, txn, req, req->key.p, req->key.n, &at, e) == -1)
		return -1;
	if (rows_precond(req, at.ra_found == STORE_FOUND ? at.ra_etag : NULL,
	    0) != PRECOND_OK)
		return rows_precond_err(e);
	if (at.ra_found != STORE_FOUND)
		return rows_missing(&at, e);
	if (store_row_del(st, txn, at.ra_table.tb_id, req->key.p, req->key.n,
	    e) == -1)
		return -1;
	if (at.ra_table.tb_rows > 0)
		at.ra_table.tb_rows--;
	if (store_table_put(st, txn, req->ws, req->table, &at.ra_table,
	    e) == -1)
		return -1;
	res->status = 204;
	return 0;
}

int
tables_list(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct store_table	 t;
	MDB_cursor		*cur;
	MDB_val			 k, v;
	unsigned char		 start[ROUTE_NAME_MAX + 1];
	const unsigned char	*kp;
	size_t			 plen = req->ws.n + 1;
	int			 rc, first = 1;

	if ((rc = mdb_cursor_open(txn, st->st_catalog, &cur)) != 0)
		return store_mdb_err(e, rc, "catalog cursor");
	memcpy(start, req->ws.p, req->ws.n);
	start[req->ws.n] = '\0';
	k.mv_data = start;
	k.mv_size = plen;
	if (buf_puts(&res->body, "{\"tables\":[") == -1)
		goto oom;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		kp = k.mv_data;
		if (k.mv_size <= plen || memcmp(kp, start, plen) != 0)
			break;
		if (store_table_decode(&v, &t, e) == -1) {
			mdb_cursor_close(cur);
			return -1;
		}
		if ((!first && buf_putc(&res->body, ',') == -1) ||
		    buf_puts(&res->body, "{\"name\":") == -1 ||
		    buf_json_str(&res->body, (const char *)kp + plen,
		    k.mv_size - plen) == -1 ||
		    buf_printf(&res->body, ",\"rows\":%llu}",
		    (unsigned long long)t.tb_rows) == -1)
			goto oom;
		first = 0;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(e, rc, "catalog scan");
	if (buf_puts(&res->body, "]}") == -1)
		return rows_oom(e, "table list");
	res->status = 200;
	return 0;
oom:
	mdb_cursor_close(cur);
	return rows_oom(e, "table list");
}

int
tables_drop(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct store_table	 t;
	struct store_key	 pfx;
	MDB_cursor		*cur;
	MDB_val			 k, v;
	int			 found, rc;

	if (store_table_get(st, txn, req->ws, req->table, &t, &found, e) == -1)
		return -1;
	if (!found)
		return err_set(e, ERR_NOT_FOUND, "table not found");
	if ((rc = mdb_cursor_open(txn, st->st_rows, &cur)) != 0)
		return store_mdb_err(e, rc, "row cursor");
	store_key_table(&pfx, t.tb_id);
	k.mv_data = pfx.sk_data;
	k.mv_size = pfx.sk_len;
	/* After a delete the cursor already sits on the next row: MDB_NEXT
	 * returns that row, it does not skip it. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < pfx.sk_len ||
		    memcmp(k.mv_data, pfx.sk_data, pfx.sk_len) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(e, rc, "dropping rows");
	if (store_table_del(st, txn, req->ws, req->table, e) == -1)
		return -1;
	res->status = 204;
	return 0;
}

/*
 * A cursor over the rows of one table whose encoded keys start with
 * the encoding of a key prefix, in store order.
 */
struct rows_cursor {
	MDB_cursor		*rc_cur;
	struct store_key	 rc_base;	/* tid || prefix head */
	int			 rc_rc;		/* last mdb_cursor_get */
	MDB_val			 rc_k, rc_v;
};

/* A scan's base is mostly just the table id: four bytes compared as a
 * word, not through a memcmp() call per row. */
static int
rows_cursor_in(struct rows_cursor *c)
{
	uint32_t	a, b;

	if (c->rc_rc != 0 || c->rc_k.mv_size < c->rc_base.sk_len)
		return 0;
	if (c->rc_base.sk_len == STORE_TID_LEN) {
		memcpy(&a, c->rc_k.mv_data, sizeof(a));
		memcpy(&b, c->rc_base.sk_data, sizeof(b));
		return a == b;
	}
	return memcmp(c->rc_k.mv_data, c->rc_base.sk_data,
	    c->rc_base.sk_len) == 0;
}

/*
 * Position c on the first row after "after" (in store order; when after is
 * absent, on the first row of the range).  A key equal to after is
 * skipped, so a scan resumes exactly past the last key it returned.
 */
static int
rows_cursor_open(struct store *st, MDB_txn *txn, uint32_t tid,
    struct route_str prefix, struct route_str after, struct rows_cursor *c,
    struct err *e)
{
	struct store_key	 a;
	size_t			 head;
	int			 rc, skip = 0;

	if ((rc = mdb_cursor_open(txn, st->st_rows, &c->rc_cur)) != 0)
		return store_mdb_err(e, rc, "row cursor");
	/* Rows whose key starts with prefix have encoded keys starting
	 * with its first STORE_KEY_HEAD bytes; the full key is checked too. */
	head = prefix.p == NULL ? 0 : prefix.n;
	if (head > STORE_KEY_HEAD)
		head = STORE_KEY_HEAD;
	store_key_encode(&c->rc_base, tid, prefix.p, head);
	c->rc_k.mv_data = c->rc_base.sk_data;
	c->rc_k.mv_size = c->rc_base.sk_len;
	if (after.p != NULL) {
		store_key_encode(&a, tid, after.p, after.n);
		if (store_key_cmp(a.sk_data, a.sk_len, c->rc_base.sk_data,
		    c->rc_base.sk_len) >= 0) {
			c->rc_k.mv_data = a.sk_data;
			c->rc_k.mv_size = a.sk_len;
			skip = 1;
		}
	}
	c->rc_rc = mdb_cursor_get(c->rc_cur, &c->rc_k, &c->rc_v,
	    MDB_SET_RANGE);
	if (skip && c->rc_rc == 0 && store_key_cmp(c->rc_k.mv_data,
	    c->rc_k.mv_size, a.sk_data, a.sk_len) == 0)
		c->rc_rc = mdb_cursor_get(c->rc_cur, &c->rc_k, &c->rc_v,
		    MDB_NEXT);
	return 0;
}

/*
 * Advance to the next row of the range whose full key starts with
 * prefix.  Returns 1 with *r filled, 0 at the end, -1 with e set.
 */
static int
rows_cursor_next(struct rows_cursor *c, struct route_str prefix, int first,
    struct store_row *r, struct err *e)
{
	if (!first)
		c->rc_rc = mdb_cursor_get(c->rc_cur, &c->rc_k, &c->rc_v,
		    MDB_NEXT);
	for (;; c->rc_rc = mdb_cursor_get(c->rc_cur, &c->rc_k, &c->rc_v,
	    MDB_NEXT)) {
		if (c->rc_rc != 0 && c->rc_rc != MDB_NOTFOUND)
			return store_mdb_err(e, c->rc_rc, "row scan");
		if (!rows_cursor_in(c))
			return 0;
		if (store_row_decode(&c->rc_v, r, e) == -1)
			return -1;
		if (prefix.p == NULL || (r->rw_key_len >= prefix.n &&
		    memcmp(r->rw_key, prefix.p, prefix.n) == 0))
			return 1;
	}
}

/* Append one scan entry {"key":..,"etag":..,"value":..}; the length of
 * the escaped key goes to *key_esc. */
static int
rows_scan_entry(struct buf *b, const struct store_row *r, int first,
    size_t *key_esc)
{
	char	etag[ITEM_ETAG_MAX];
	size_t	at;

	store_etag_format(etag, r->rw_etag);
	if ((!first && buf_putc(b, ',') == -1) ||
	    buf_puts(b, "{\"key\":") == -1)
		return -1;
	at = b->len;
	if (buf_json_str(b, r->rw_key, r->rw_key_len) == -1)
		return -1;
	*key_esc = b->len - at;
	if (buf_puts(b, ",\"etag\":") == -1 ||
	    buf_json_str(b, etag, strlen(etag)) == -1 ||
	    buf_puts(b, ",\"value\":") == -1 ||
	    buf_append(b, r->rw_json, r->rw_json_len) == -1 ||
	    buf_putc(b, '}') == -1)
		return -1;
	return 0;
}

#define SCAN_TAIL	"],\"next\":"

int
rows_scan(struct store *st, MDB_txn *txn, const struct item_req *req,
    struct item_res *res, struct err *e)
{
	struct store_table	 t;
	struct rows_cursor	 c;
	struct store_row	 r;
	struct buf		*b = &res->body;
	const char		*last = NULL;
	size_t			 last_len = 0, mark, key_esc, tail;
	long			 limit = req->limit, count = 0;
	int			 found, more = 0, first, got, rc = -1;

	if (limit < 1)
		limit = ROUTE_LIMIT_DEFAULT;
	if (limit > ROUTE_LIMIT_MAX)
		limit = ROUTE_LIMIT_MAX;
	if (store_table_get(st, txn, req->ws, req->table, &t, &found, e) == -1)
		return -1;
	if (!found)
		return err_set(e, ERR_NOT_FOUND, "table not found");
	if (rows_cursor_open(st, txn, t.tb_id, req->prefix, req->after, &c,
	    e) == -1)
		return -1;
	if (buf_puts(b, "{\"rows\":[") == -1)
		goto oom;
	for (first = 1; (got = rows_cursor_next(&c, req->prefix, first, &r,
	    e)) == 1; first = 0) {
		if (count == limit) {
			more = 1;
			break;
		}
		mark = b->len;
		if (rows_scan_entry(b, &r, count == 0, &key_esc) == -1)
			goto oom;
		/* Keep room to close with this key (or null) as "next". */
		tail = sizeof(SCAN_TAIL) - 1 + (key_esc > 4 ? key_esc : 4) + 1;
		if (st->st_max_result > 0 && count > 0 &&
		    b->len + tail > st->st_max_result) {
			b->len = mark;
			b->data[mark] = '\0';
			more = 1;
			break;
		}
		last = r.rw_key;
		last_len = r.rw_key_len;
		count++;
	}
	if (got == -1)
		goto done;
	if (buf_puts(b, SCAN_TAIL) == -1 ||
	    (more ? buf_json_str(b, last, last_len) :
	    buf_puts(b, "null")) == -1 ||
	    buf_putc(b, '}') == -1)
		goto oom;
	res->status = 200;
	rc = 0;
	goto done;
oom:
	rows_oom(e, "scan result");
done:
	mdb_cursor_close(c.rc_cur);
	return rc;
}

/* tid || up to STORE_KEY_RAW_MAX bytes of a stored key (a bound). */
static void
rows_bound(struct store_key *k, uint32_t tid, const struct route_str *b)
{
	size_t n = b->n < STORE_KEY_RAW_MAX ? b->n : STORE_KEY_RAW_MAX;

	store_key_table(k, tid);
	memcpy(k->sk_data + STORE_TID_LEN, b->p, n);
	k->sk_len += n;
}

/*
 * A scan reads each row once, and its bytes are mostly not in the cache
 * yet; a query's walk over a row asks for them one after another, each
 * address known only once the byte before it is read.  So the scan runs
 * one row ahead: the next row is found, and every line of it asked for
 * (a prefetch, which never faults and does not wait), before the callback
 * reads the current one; its bytes come while the callback works.  The
 * cursor's own first touch of each row, its node header, is asked for a
 * page ahead (scan_ahead.h).
 */
#define ROWS_PF_LINE	64u
#define ROWS_PF_MAX	(64u * 1024)	/* a long row: its head is enough */

static void
rows_prefetch(const char *p, size_t n)
{
	size_t	o;

	for (o = 0; o < n && o < ROWS_PF_MAX; o += ROWS_PF_LINE)
		__builtin_prefetch(p + o);
}

int
rows_iter(struct store *st, MDB_txn *txn, struct route_str ws,
    struct route_str table, const struct route_str *lo,
    const struct route_str *hi, store_row_cb cb, void *arg, struct err *e)
{
	struct store_table	 t;
	struct rows_cursor	 c;
	struct store_row	 r, cur;
	struct store_key	 h;
	struct route_str	 none = { NULL, 0 };
	struct err		 ne;
	struct scan_ahead	 sa;
	int			 found, got, rc = 0;

	if (store_table_get(st, txn, ws, table, &t, &found, e) == -1)
		return -1;
	if (!found)
		return err_set(e, ERR_NOT_FOUND, "table not found");
	/* Only the read snapshot's pages all lie in the map, each where a
	 * page starts: a write transaction's (an atomicity or write group's)
	 * changed pages are copies on the heap, where scan_ahead would take
	 * other bytes for a page header. */
	if (txn == st->st_rtxn)
		scan_ahead_init(&sa, st->st_env);
	else
		memset(&sa, 0, sizeof(sa));
	if (rows_cursor_open(st, txn, t.tb_id, none, none, &c, e) == -1)
		return -1;
	if (lo != NULL && lo->n > 0) {
		/* Bounds are stored key bytes: from lo on, included. */
		rows_bound(&c.rc_base, t.tb_id, lo);
		c.rc_k.mv_data = c.rc_base.sk_data;
		c.rc_k.mv_size = c.rc_base.sk_len;
		c.rc_rc = mdb_cursor_get(c.rc_cur, &c.rc_k, &c.rc_v,
		    MDB_SET_RANGE);
		store_key_table(&c.rc_base, t.tb_id);
	}
	if (hi != NULL)
		rows_bound(&h, t.tb_id, hi);
	memset(&ne, 0, sizeof(ne));
	got = rows_cursor_next(&c, none, 1, &r, &ne);
	while (got == 1) {
		if (hi != NULL && rows_key_at_or_past(c.rc_k.mv_data,
		    c.rc_k.mv_size, h.sk_data, h.sk_len))
			break;
		/* Rows point into the map, valid for the transaction: the
		 * current one stays readable after the cursor moves on. */
		cur = r;
		if ((got = rows_cursor_next(&c, none, 0, &r, &ne)) == 1) {
			scan_ahead_key(&sa, c.rc_k.mv_data);
			rows_prefetch(r.rw_json, r.rw_json_len);
		}
		if ((rc = cb(arg, cur.rw_key, cur.rw_key_len, cur.rw_json,
		    cur.rw_json_len)) != 0)
			break;
	}
	mdb_cursor_close(c.rc_cur);
	if (rc == -1) {
		if (e->code == ERR_NONE)
			err_set(e, ERR_INTERNAL, "row callback failed");
		return -1;
	}
	/* A row past where the callback stopped was never the scan's. */
	if (rc == 0 && got == -1) {
		*e = ne;
		return -1;
	}
	return 0;
}

int
rows_span(struct store *st, MDB_txn *txn, struct route_str ws,
    struct route_str table, struct store_span *sp, struct err *e)
{
	struct store_table	 t;
	struct store_key	 k;
	MDB_cursor		*cur;
	MDB_val			 kv, vv;
	int			 found, rc;

	memset(sp, 0, sizeof(*sp));
	if (store_table_get(st, txn, ws, table, &t, &found, e) == -1)
		return -1;
	if (!found)
		return 0;
	sp->found = 1;
	sp->rows = t.tb_rows;
	if ((rc = mdb_cursor_open(txn, st->st_rows, &cur)) != 0)
		return store_mdb_err(e, rc, "row cursor");
	/* The first key of the table, then the last: the first key of the
	 * next table id, one back (or the last key of all). */
	store_key_table(&k, t.tb_id);
	kv.mv_data = k.sk_data;
	kv.mv_size = k.sk_len;
	rc = mdb_cursor_get(cur, &kv, &vv, MDB_SET_RANGE);
	if (rc == 0 && kv.mv_size > STORE_TID_LEN && memcmp(kv.mv_data,
	    k.sk_data, STORE_TID_LEN) == 0) {
		sp->first_len = kv.mv_size - STORE_TID_LEN;
		memcpy(sp->first, (char *)kv.mv_data + STORE_TID_LEN,
		    sp->first_len);
	}
	store_key_table(&k, t.tb_id + 1);
	kv.mv_data = k.sk_data;
	kv.mv_size = k.sk_len;
	rc = mdb_cursor_get(cur, &kv, &vv, MDB_SET_RANGE);
	rc = mdb_cursor_get(cur, &kv, &vv, rc == 0 ? MDB_PREV : MDB_LAST);
	store_key_table(&k, t.tb_id);
	if (rc == 0 && kv.mv_size > STORE_TID_LEN && memcmp(kv.mv_data,
	    k.sk_data, STORE_TID_LEN) == 0) {
		sp->last_len = kv.mv_size - STORE_TID_LEN;
		memcpy(sp->last, (char *)kv.mv_data + STORE_TID_LEN,
		    sp->last_len);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(e, rc, "row cursor");
	return 0;
}
