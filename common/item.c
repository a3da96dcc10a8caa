/*
 * item.c - item results.
 */
#include "item.h"

void
item_res_reset(struct item_res *r)
{
	r->status = 0;
	r->comp_flags = 0;
	r->etag[0] = '\0';
	r->stored = 0;
	buf_reset(&r->location);
	buf_reset(&r->body);
}

void
item_res_free(struct item_res *r)
{
	buf_free(&r->location);
	buf_free(&r->body);
}

int
item_res_error(struct item_res *r, enum err_code code, const char *detail)
{
	r->status = err_status(code);
	r->etag[0] = '\0';
	r->stored = 0;
	buf_reset(&r->location);
	buf_reset(&r->body);
	if (err_body(&r->body, code, detail) == -1)
		buf_reset(&r->body);
	return 0;
}

#include <string.h>

#include "shm.h"

static void
item_put_status(struct buf *o, int status)
{
	char d[3];

	if (status < 100 || status > 999)
		status = 500;
	d[0] = (char)('0' + status / 100);
	d[1] = (char)('0' + status / 10 % 10);
	d[2] = (char)('0' + status % 10);
	buf_append(o, d, 3);
}

int
item_render_head(struct buf *o, const struct item_head *h)
{
	int first = 1;

	buf_append(o, "{\"id\":", 6);
	buf_json_str(o, h->id, h->id_len);
	/* OData 4.01: an answer of an atomicity group names it. */
	if (h->agroup != NULL) {
		buf_append(o, ",\"atomicityGroup\":", 18);
		buf_json_str(o, h->agroup, h->agroup_len);
	}
	buf_append(o, ",\"status\":", 10);
	item_put_status(o, h->status);
	buf_append(o, ",\"headers\":{", 12);
	if (h->etag_len > 0) {
		buf_append(o, "\"ETag\":", 7);
		buf_json_str(o, h->etag, h->etag_len);
		first = 0;
	}
	if (h->loc_len > 0) {
		buf_puts(o, first ? "\"Location\":" : ",\"Location\":");
		buf_json_str(o, h->loc, h->loc_len);
		first = 0;
	}
	if (h->retry_after > 0) {
		buf_puts(o, first ? "\"Retry-After\":\"" : ",\"Retry-After\":\"");
		buf_printf(o, "%u\"", h->retry_after);
		first = 0;
	}
	if (h->body_len > 0)
		buf_puts(o, first ? "\"Content-Type\":\"application/json\"" :
		    ",\"Content-Type\":\"application/json\"");
	buf_putc(o, '}');
	if (h->body_len > 0)
		buf_append(o, ",\"body\":", 8);
	return buf_reserve(o, h->body_len + 1);
}

static struct route_str *
item_field(struct item_req *rq, enum item_field f)
{
	switch (f) {
	case IF_WS:		return &rq->ws;
	case IF_TABLE:		return &rq->table;
	case IF_KEY:		return &rq->key;
	case IF_PREFIX:		return &rq->prefix;
	case IF_AFTER:		return &rq->after;
	case IF_QUERY:		return &rq->query;
	case IF_TIMESPAN:	return &rq->timespan;
	case IF_IF_MATCH:	return &rq->if_match;
	case IF_IF_NONE_MATCH:	return &rq->if_none_match;
	case IF_ASYNC_ID:	return &rq->async_id;
	case IF_ITEM_ID:	return &rq->item_id;
	case IF_AGROUP:		return &rq->agroup;
	default:		return NULL;
	}
}

int
item_encode(const struct item_req *rq, struct buf *out)
{
	buf_reset(out);
	return item_append(rq, out);
}

int
item_append(const struct item_req *rq, struct buf *out)
{
	struct item_wire	 w;
	struct route_str	*s;
	size_t			 total;
	int			 f;

	memset(&w, 0, sizeof(w));
	w.magic = ITEM_MAGIC;
	w.op = (uint32_t)rq->op;
	w.body_kind = (uint32_t)rq->body_kind;
	w.prefer = rq->prefer;
	w.limit = rq->limit;
	for (f = 0; f < IF__COUNT; f++) {
		if (f == IF_BODY) {
			w.flen[f] = rq->body != NULL ? (uint32_t)rq->body_len :
			    ITEM_ABSENT;
			continue;
		}
		s = item_field((struct item_req *)rq, (enum item_field)f);
		w.flen[f] = s->p != NULL ? (uint32_t)s->n : ITEM_ABSENT;
	}
	for (total = sizeof(w), f = 0; f < IF__COUNT; f++)
		if (w.flen[f] != ITEM_ABSENT)
			total += w.flen[f];
	/* One allocation for the whole item. */
	if (buf_reserve(out, total) == -1 ||
	    buf_append(out, &w, sizeof(w)) == -1)
		return -1;
	for (f = 0; f < IF__COUNT; f++) {
		if (w.flen[f] == ITEM_ABSENT)
			continue;
		if (f == IF_BODY) {
			if (buf_append(out, rq->body, rq->body_len) == -1)
				return -1;
			continue;
		}
		s = item_field((struct item_req *)rq, (enum item_field)f);
		if (buf_append(out, s->p, s->n) == -1)
			return -1;
	}
	return 0;
}

int
item_decode(const char *p, size_t n, struct item_req *rq)
{
	struct item_wire	 w;
	struct route_str	*s;
	size_t			 off = sizeof(w);
	int			 f;

	if (n < sizeof(w))
		return -1;
	memcpy(&w, p, sizeof(w));
	if (w.magic != ITEM_MAGIC || w.op == OP_NONE || w.op >= OP__COUNT ||
	    w.body_kind > BODY_OTHER)
		return -1;
	memset(rq, 0, sizeof(*rq));
	rq->op = (enum route_op)w.op;
	rq->body_kind = (enum item_body)w.body_kind;
	rq->prefer = w.prefer;
	rq->limit = (long)w.limit;
	for (f = 0; f < IF__COUNT; f++) {
		if (w.flen[f] == ITEM_ABSENT)
			continue;
		if (w.flen[f] > n - off)
			return -1;
		if (f == IF_BODY) {
			rq->body = p + off;
			rq->body_len = w.flen[f];
		} else {
			s = item_field(rq, (enum item_field)f);
			s->p = p + off;
			s->n = w.flen[f];
		}
		off += w.flen[f];
	}
	return off == n ? 0 : -1;
}
