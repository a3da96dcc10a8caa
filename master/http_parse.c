/*
 * http_parse.c - HTTP/1.1 request heads and chunked bodies, strictly by
 * RFC 9112 (see http_parse.h for what "strictly" means here).
 */
#include <string.h>
#include <strings.h>

#include "http_parse.h"

#define HTTP_TRAILER_LINE_MAX	8192

static const char *http_methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
	"CONNECT"
};

const char *
http_method_str(enum http_method m)
{
	if ((size_t)m < sizeof(http_methods) / sizeof(http_methods[0]))
		return http_methods[m];
	return "?";
}

/* RFC 9110 5.6.2 tchar: a table, as every byte of every field name is
 * looked up. */
#define T1(c)	[c] = 1
static const unsigned char http_tchars[256] = {
	T1('!'), T1('#'), T1('$'), T1('%'), T1('&'), T1('\''), T1('*'),
	T1('+'), T1('-'), T1('.'), T1('^'), T1('_'), T1('`'), T1('|'), T1('~'),
	T1('0'), T1('1'), T1('2'), T1('3'), T1('4'), T1('5'), T1('6'), T1('7'),
	T1('8'), T1('9'),
	T1('A'), T1('B'), T1('C'), T1('D'), T1('E'), T1('F'), T1('G'), T1('H'),
	T1('I'), T1('J'), T1('K'), T1('L'), T1('M'), T1('N'), T1('O'), T1('P'),
	T1('Q'), T1('R'), T1('S'), T1('T'), T1('U'), T1('V'), T1('W'), T1('X'),
	T1('Y'), T1('Z'),
	T1('a'), T1('b'), T1('c'), T1('d'), T1('e'), T1('f'), T1('g'), T1('h'),
	T1('i'), T1('j'), T1('k'), T1('l'), T1('m'), T1('n'), T1('o'), T1('p'),
	T1('q'), T1('r'), T1('s'), T1('t'), T1('u'), T1('v'), T1('w'), T1('x'),
	T1('y'), T1('z'),
};
#undef T1

static int
http_tchar(unsigned char c)
{
	return http_tchars[c];
}

/* The first CRLF in p[0..n), or NULL: memchr finds each LF at memory
 * speed, where memmem's general search cost more than the whole rest of
 * the head's parse. */
static const char *
http_crlf(const char *p, size_t n)
{
	const char *s = p, *e = p + n, *q;

	while (s < e && (q = memchr(s, '\n', (size_t)(e - s))) != NULL) {
		if (q > p && q[-1] == '\r')
			return q - 1;
		s = q + 1;
	}
	return NULL;
}

/* The first CRLF CRLF (the end of a head) in p[0..n), or NULL. */
static const char *
http_head_end(const char *p, size_t n)
{
	const char *s = p, *e = p + n, *q;

	while (s < e && (q = memchr(s, '\n', (size_t)(e - s))) != NULL) {
		if (q - p >= 3 && q[-1] == '\r' && q[-2] == '\n' &&
		    q[-3] == '\r')
			return q - 3;
		s = q + 1;
	}
	return NULL;
}

/* Field-value bytes: VCHAR, SP, HTAB, obs-text; never CR, LF, NUL. */
static int
http_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
http_ieq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

/*
 * Walk a comma-separated list (RFC 9110 5.6.1), calling fn on each
 * non-empty element, its surrounding whitespace trimmed.  fn returns -1
 * to stop with an error.
 */
static int
http_list(const char *p, size_t n, int (*fn)(void *, const char *, size_t),
    void *arg)
{
	size_t i = 0, s, t;

	while (i <= n) {
		s = i;
		while (i < n && p[i] != ',')
			i++;
		t = i;
		while (s < t && (p[s] == ' ' || p[s] == '\t'))
			s++;
		while (t > s && (p[t - 1] == ' ' || p[t - 1] == '\t'))
			t--;
		if (t > s && fn(arg, p + s, t - s) == -1)
			return -1;
		i++;
	}
	return 0;
}

static int
http_cl_elem(void *arg, const char *p, size_t n)
{
	int64_t	*cl = arg, v = 0;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (*cl >= 0 && *cl != v)
		return -1;
	*cl = v;
	return 0;
}

struct http_te {
	int	n;		/* codings seen */
	int	bad;		/* one that is not "chunked" */
};

static int
http_te_elem(void *arg, const char *p, size_t n)
{
	struct http_te *te = arg;

	te->n++;
	if (!http_ieq(p, n, "chunked"))
		te->bad = 1;
	return 0;
}

static int
http_conn_elem(void *arg, const char *p, size_t n)
{
	int *flags = arg;

	if (http_ieq(p, n, "close"))
		*flags |= 1;
	else if (http_ieq(p, n, "keep-alive"))
		*flags |= 2;
	return 0;
}

/* Reduce an absolute-form target (RFC 9112 3.2.2) to its path + query. */
static int
http_absolute(struct route_str *t)
{
	const char	*p = t->p, *s, *end = t->p + t->n;
	size_t		 sl;

	if ((s = memchr(p, ':', t->n)) == NULL)
		return -1;
	sl = (size_t)(s - p);
	if (!(http_ieq(p, sl, "http") || http_ieq(p, sl, "https")) ||
	    (size_t)(end - s) < 3 || s[1] != '/' || s[2] != '/')
		return -1;
	s += 3;
	while (s < end && *s != '/' && *s != '?' && *s != '#')
		s++;
	if (s == end) {
		t->p = "/";
		t->n = 1;
		return 0;
	}
	if (*s != '/')
		return -1;
	t->p = s;
	t->n = (size_t)(end - s);
	return 0;
}

static enum http_method
http_method_of(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
		if (strlen(http_methods[i]) == n &&
		    memcmp(http_methods[i], p, n) == 0)
			return (enum http_method)i;
	return HM_OTHER;
}

/* The request line: method SP request-target SP HTTP-version. */
static int
http_request_line(const char *p, size_t n, struct http_head *h,
    struct err *e)
{
	size_t i = 0, s;

	while (i < n && http_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ' ')
		return err_set(e, ERR_BAD_REQUEST, "malformed request line");
	h->method_name.p = p;
	h->method_name.n = i;
	h->method = http_method_of(p, i);
	s = ++i;
	while (i < n && (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
		i++;
	if (i == s || i == n || p[i] != ' ')
		return err_set(e, ERR_BAD_REQUEST, "malformed request target");
	h->target.p = p + s;
	h->target.n = i - s;
	i++;
	if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
	    (p[i + 7] != '0' && p[i + 7] != '1'))
		return err_set(e, ERR_BAD_REQUEST, "unsupported HTTP version "
		    "(HTTP/1.0 and HTTP/1.1 are served)");
	h->minor = p[i + 7] - '0';
	if (h->target.p[0] == '/')
		return 0;
	if (h->method == HM_OPTIONS && h->target.n == 1 &&
	    h->target.p[0] == '*')
		return 0;
	if (h->method == HM_CONNECT)
		return 0;
	if (http_absolute(&h->target) == -1)
		return err_set(e, ERR_BAD_REQUEST, "malformed request target");
	return 0;
}

struct http_fields {
	int		 nhost, nauth, nte, conn;
	struct http_te	 te;
};

static int
http_field(const char *name, size_t nl, const char *v, size_t vl,
    struct http_head *h, struct http_fields *f, struct err *e)
{
	switch (nl) {
	case 4:
		if (http_ieq(name, nl, "host")) {
			f->nhost++;
			h->host.p = v;
			h->host.n = vl;
		}
		break;
	case 6:
		if (http_ieq(name, nl, "expect"))
			h->expect_continue = http_ieq(v, vl, "100-continue");
		else if (http_ieq(name, nl, "prefer") &&
		    h->nprefer < HTTP_PREFER_MAX) {
			h->prefer[h->nprefer].p = v;
			h->prefer[h->nprefer++].n = vl;
		}
		break;
	case 8:
		if (http_ieq(name, nl, "if-match") && h->if_match.p == NULL) {
			h->if_match.p = v;
			h->if_match.n = vl;
		}
		break;
	case 10:
		if (http_ieq(name, nl, "connection"))
			http_list(v, vl, http_conn_elem, &f->conn);
		break;
	case 12:
		if (http_ieq(name, nl, "x-request-id")) {
			h->request_id.p = v;
			h->request_id.n = vl;
		}
		break;
	case 13:
		if (http_ieq(name, nl, "authorization")) {
			if (++f->nauth > 1)
				return err_set(e, ERR_BAD_REQUEST, "more than "
				    "one Authorization header");
			h->authorization.p = v;
			h->authorization.n = vl;
		} else if (http_ieq(name, nl, "if-none-match") &&
		    h->if_none_match.p == NULL) {
			h->if_none_match.p = v;
			h->if_none_match.n = vl;
		}
		break;
	case 14:
		if (http_ieq(name, nl, "content-length") &&
		    (vl == 0 || http_list(v, vl, http_cl_elem,
		    &h->content_length) == -1 || h->content_length < 0))
			return err_set(e, ERR_BAD_REQUEST, "invalid or "
			    "conflicting Content-Length");
		break;
	case 17:
		if (http_ieq(name, nl, "transfer-encoding")) {
			f->nte++;
			http_list(v, vl, http_te_elem, &f->te);
			if (vl == 0)
				f->te.bad = 1;
		}
		break;
	default:
		break;
	}
	return 0;
}

/* One field line "name: value" (no CRLF); RFC 9112 5. */
static int
http_field_line(const char *p, size_t n, struct http_head *h,
    struct http_fields *f, struct err *e)
{
	size_t i = 0, s, t;

	if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
		return err_set(e, ERR_BAD_REQUEST, "obsolete line folding");
	while (i < n && http_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ':')
		return err_set(e, ERR_BAD_REQUEST, "malformed header line");
	s = i + 1;
	for (t = s; t < n; t++)
		if (!http_vchar((unsigned char)p[t]))
			return err_set(e, ERR_BAD_REQUEST, "invalid byte in "
			    "header %.*s", (int)(i < 40 ? i : 40), p);
	while (s < n && (p[s] == ' ' || p[s] == '\t'))
		s++;
	t = n;
	while (t > s && (p[t - 1] == ' ' || p[t - 1] == '\t'))
		t--;
	return http_field(p, i, p + s, t - s, h, f, e);
}

long
http_parse_head(const char *p, size_t n, size_t max, struct http_head *h,
    struct err *e)
{
	const char		*end, *line, *nl;
	struct http_fields	 f;
	size_t			 skip = 0;

	while (skip + 1 < n && p[skip] == '\r' && p[skip + 1] == '\n')
		skip += 2;
	end = n - skip >= 4 ? http_head_end(p + skip, n - skip) : NULL;
	if (end == NULL) {
		if (n > max)
			return err_set(e, ERR_BAD_REQUEST, "request header "
			    "larger than %zu bytes", max);
		return 0;
	}
	if ((size_t)(end - p) + 4 > max)
		return err_set(e, ERR_BAD_REQUEST, "request header larger than "
		    "%zu bytes", max);
	memset(h, 0, sizeof(*h));
	memset(&f, 0, sizeof(f));
	h->content_length = -1;
	line = p + skip;
	nl = http_crlf(line, (size_t)(end + 2 - line));
	if (http_request_line(line, (size_t)(nl - line), h, e) == -1)
		return -1;
	for (line = nl + 2; line < end + 2; line = nl + 2) {
		nl = http_crlf(line, (size_t)(end + 2 - line));
		if (http_field_line(line, (size_t)(nl - line), h, &f, e) == -1)
			return -1;
	}
	if (f.nte > 0) {
		if (f.te.bad || f.te.n != 1)
			return err_set(e, ERR_BAD_REQUEST, "unsupported "
			    "Transfer-Encoding (only a single chunked is "
			    "served)");
		if (h->content_length >= 0)
			return err_set(e, ERR_BAD_REQUEST, "Content-Length "
			    "and Transfer-Encoding together");
		if (h->minor == 0)
			return err_set(e, ERR_BAD_REQUEST, "Transfer-Encoding "
			    "in an HTTP/1.0 request");
		h->chunked = 1;
	}
	if (f.nhost > 1)
		return err_set(e, ERR_BAD_REQUEST, "more than one Host header");
	if (f.nhost == 0 && h->minor == 1)
		return err_set(e, ERR_BAD_REQUEST, "no Host header "
		    "(required in HTTP/1.1)");
	h->keep_alive = !(f.conn & 1) && (h->minor == 1 || (f.conn & 2));
	return (long)(end + 4 - p);
}

long
http_chunked_feed(struct http_chunked *st, const char *in, size_t n,
    uint64_t max, void (*sink)(void *, const char *, size_t), void *arg,
    struct err *e)
{
	size_t		 i = 0, k;
	unsigned char	 c;
	int		 d;

	while (i < n && st->st != HC_DONE) {
		c = (unsigned char)in[i];
		switch (st->st) {
		case HC_SIZE:
			d = c >= '0' && c <= '9' ? c - '0' :
			    c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d >= 0) {
				if (++st->ndigits > 16)
					return err_set(e, ERR_BAD_REQUEST,
					    "chunk size too long");
				st->left = st->left * 16 + (uint64_t)d;
				i++;
				break;
			}
			if (st->ndigits == 0 || (c != '\r' && c != ';' &&
			    c != ' ' && c != '\t'))
				return err_set(e, ERR_BAD_REQUEST,
				    "malformed chunk size");
			if (st->left > max - st->total)
				return err_set(e, ERR_PAYLOAD_TOO_LARGE,
				    "body exceeds max_body_bytes (%llu)",
				    (unsigned long long)max);
			st->st = c == '\r' ? HC_SIZE_LF : HC_EXT;
			i++;
			break;
		case HC_EXT:
			/* Extensions are ignored (RFC 9112 7.1.1), but a
			 * control byte in one is no extension. */
			if (c == '\r')
				st->st = HC_SIZE_LF;
			else if (c != '\t' && (c < 0x20 || c == 0x7f))
				return err_set(e, ERR_BAD_REQUEST,
				    "malformed chunk extension");
			i++;
			break;
		case HC_SIZE_LF:
			if (c != '\n')
				return err_set(e, ERR_BAD_REQUEST,
				    "chunk size line not ended by CRLF");
			i++;
			st->ndigits = 0;
			st->st = st->left == 0 ? HC_TRAILER : HC_DATA;
			break;
		case HC_DATA:
			k = n - i;
			if ((uint64_t)k > st->left)
				k = (size_t)st->left;
			if (sink != NULL)
				sink(arg, in + i, k);
			i += k;
			st->left -= k;
			st->total += k;
			if (st->left == 0)
				st->st = HC_DATA_CR;
			break;
		case HC_DATA_CR:
		case HC_DATA_LF:
			if (c != (st->st == HC_DATA_CR ? '\r' : '\n'))
				return err_set(e, ERR_BAD_REQUEST,
				    "chunk data not followed by CRLF");
			st->st = st->st == HC_DATA_CR ? HC_DATA_LF : HC_SIZE;
			i++;
			break;
		case HC_TRAILER:
			if (c == '\r') {
				st->st = HC_TRAILER_LF;
			} else if ((st->line_len == 0 && (c == ' ' ||
			    c == '\t')) || !http_vchar(c) ||
			    ++st->line_len > HTTP_TRAILER_LINE_MAX ||
			    (!st->line_colon && c != ':' && !http_tchar(c)))
				return err_set(e, ERR_BAD_REQUEST,
				    "malformed trailer");
			else if (c == ':')
				st->line_colon = 1;
			i++;
			break;
		case HC_TRAILER_LF:
			if (c != '\n' || (st->line_len > 0 && !st->line_colon))
				return err_set(e, ERR_BAD_REQUEST,
				    "malformed trailer");
			st->st = st->line_len == 0 ? HC_DONE : HC_TRAILER;
			st->line_len = 0;
			st->line_colon = 0;
			i++;
			break;
		case HC_DONE:
			break;
		}
	}
	return (long)i;
}
