/*
 * auth.c - bearer tokens (SPEC 7).  Tokens are compared in constant time
 * and never logged; a token names the workspaces it may touch.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json_scan.h"
#include "master.h"

/* Equal in time that depends only on the length of the candidate. */
static int
auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char	d = (unsigned char)(alen != blen);
	size_t			i;

	for (i = 0; i < alen; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[blen ? i % blen : 0];
	return d == 0;
}

/*
 * The token of this request: 0 with *tok set (NULL when auth is off), or
 * -1 when the request must be refused 401 (detail says why, never the
 * token itself).
 */
int
auth_check(const struct master *m, const char *header,
    const struct config_token **tok, char *detail, size_t detlen)
{
	const char	*p;
	size_t		 n, i;
	int		 found = -1;

	*tok = NULL;
	if (m->cfg.ntokens == 0)
		return 0;
	if (header == NULL) {
		snprintf(detail, detlen, "missing Authorization header");
		return -1;
	}
	if (strncasecmp(header, "Bearer ", 7) != 0) {
		snprintf(detail, detlen, "Authorization must be "
		    "\"Bearer <token>\"");
		return -1;
	}
	for (p = header + 7; *p == ' '; p++)
		;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	/* Look at every token, whatever matched, so timing tells nothing. */
	for (i = 0; i < m->cfg.ntokens; i++) {
		const char *s = m->cfg.tokens[i].secret;

		if (auth_equal(p, n, s, strlen(s)) && found < 0)
			found = (int)i;
	}
	if (found < 0 || n == 0) {
		snprintf(detail, detlen, "unknown token");
		return -1;
	}
	*tok = &m->cfg.tokens[found];
	return 0;
}

/* May tok touch workspace ws?  (NULL tok: auth is off.) */
int
auth_allows(const struct config_token *tok, const char *ws, size_t n)
{
	char	**w;

	if (tok == NULL || tok->all)
		return 1;
	for (w = tok->workspaces; w != NULL && *w != NULL; w++)
		if (strlen(*w) == n && memcmp(*w, ws, n) == 0)
			return 1;
	return 0;
}

/*
 * A query body's "workspaces": [...] (Log Analytics' additional
 * workspaces): an array of at most max workspace names, each of which the
 * token may touch.  0 when absent or allowed; else -1 with e set: 400 for
 * a malformed list, 403 for a workspace outside the token's.  body is
 * JSON text json_check() accepted, an object.
 */
int
auth_query_workspaces(const struct config_token *tok, const char *body,
    long max, struct err *e)
{
	struct jscan_iter	 oi, ai;
	struct jscan_str	 name, js;
	struct route_str	 ws;
	const char		*v, *list = NULL;
	char			 dec[ROUTE_NAME_MAX];
	long			 count = 0;

	jscan_iter_init(&oi, body);
	while (jscan_iter_next(&oi, &name, &v))
		if (jscan_eq(&name, "workspaces"))
			list = v;	/* the last one counts, as in json-c */
	if (list == NULL || *list == 'n')	/* the SDKs send null */
		return 0;
	if (*list != '[')
		return err_set(e, ERR_BAD_REQUEST, "\"workspaces\" must be an "
		    "array of workspace names");
	jscan_iter_init(&ai, list);
	while (jscan_iter_next(&ai, NULL, &v)) {
		if (++count > max)
			return err_set(e, ERR_BAD_REQUEST, "\"workspaces\" names "
			    "more than query_max_workspaces (%ld)", max);
		if (*v != '"')
			return err_set(e, ERR_BAD_REQUEST, "\"workspaces\"[%ld] "
			    "must be a string", count - 1);
		jscan_string(v, &js);
		/* A name is at most 64 plain bytes; escapes decode shorter,
		 * so a longer raw form can only be a bad name. */
		ws.p = js.n <= sizeof(dec) ? jscan_decode(&js, dec, &ws.n) :
		    NULL;
		if (ws.p == NULL || !route_name_ok(&ws))
			return err_set(e, ERR_BAD_REQUEST, "\"workspaces\"[%ld] "
			    "is not a workspace name", count - 1);
		if (!auth_allows(tok, ws.p, ws.n))
			return err_set(e, ERR_FORBIDDEN, "the token may not "
			    "access workspace \"%.*s\"", (int)ws.n, ws.p);
	}
	return 0;
}
