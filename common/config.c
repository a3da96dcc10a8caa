/*
 * config.c - batchd configuration: one table of keys.
 *
 * keys[] below is the only place a key is described.  config_defaults(),
 * the file parser, config_set() (which also serves "--key value"
 * overrides), config_known(), config_keep_restart() (SIGHUP) and the three
 * dumps (the sample etc/batchd.conf, batchd.conf(5), the README's table)
 * all walk it, so a key added there is defaulted, parsed, range-checked,
 * reloaded or not, and documented at once.
 *
 * File syntax: one "key = value" per line, split at the first '='; blank
 * lines are ignored and both sides are trimmed.  '#' starts a comment when
 * it begins a line or follows whitespace; a '#' inside a word is part of
 * the value, so token secrets and paths may contain one
 * ("token = s3#cr3t ws1" is the secret "s3#cr3t").  A key given twice
 * keeps its last value, the way a command-line override replaces a file
 * value; only "token" is repeatable and adds one token per line.
 *
 * Token secrets never appear in an error message: a bad token line is
 * reported as "token line: ..." without the secret, and without workspace
 * names either, since a secret written in the wrong place would be one.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

enum key_type {
	KEY_LONG,	/* long: decimal, k_min..k_max */
	KEY_BOOL,	/* int: on|off (also true|false, yes|no, 1|0) */
	KEY_STRING,	/* char[]: 1..k_max bytes */
	KEY_LOGLEVEL,	/* enum log_level: error|warn|info|debug */
	KEY_LISTEN,	/* listen_host (no brackets) + listen_port */
	KEY_TOKEN	/* appends to tokens; no default, k_def is an example */
};

#define KEY_POW2	0x01	/* KEY_LONG: must be a power of two */
#define KEY_MUL64	0x02	/* KEY_LONG: must be a multiple of 64 */
#define KEY_RESTART	0x04	/* SIGHUP keeps the running value: the key
				 * shapes shared memory, the socket, the store
				 * or the process itself */

struct config_key {
	const char	*k_name;
	enum key_type	 k_type;
	size_t		 k_off;		/* the field in struct config */
	size_t		 k_size;	/* its size */
	const char	*k_def;		/* default, as the file would say it */
	long		 k_min;		/* KEY_LONG: smallest value */
	long		 k_max;		/* KEY_LONG: largest; strings: length */
	int		 k_flags;	/* KEY_POW2, KEY_MUL64, KEY_RESTART */
	const char	*k_doc;		/* one line for the sample config */
	const char	*k_example;	/* no default: a value to show */
};

/*
 * Offset and size of field f, which must have type T (arrays as
 * pointers): a row whose type does not match its field fails to compile
 * instead of writing a long over an int.
 */
#define FIELD(f, T)	_Generic(((struct config *)0)->f,		\
			    T: offsetof(struct config, f)),		\
			sizeof(((struct config *)0)->f)
#define STRMAX(f)	((long)sizeof(((struct config *)0)->f) - 1)

static const struct config_key keys[] = {
	{ "listen", KEY_LISTEN, FIELD(listen_host, char *),
	    "127.0.0.1:8080", 0, STRMAX(listen_host), KEY_RESTART,
	    "Address to serve HTTP on, HOST:PORT or [IPV6]:PORT; port 0 picks "
	    "a free one.", NULL },
	{ "workers", KEY_LONG, FIELD(workers, long),
	    "4", 1, 256, 0,
	    "Worker processes; SIGHUP applies a new count.", NULL },
	{ "db_path", KEY_STRING, FIELD(db_path, char *),
	    "./data", 1, STRMAX(db_path), KEY_RESTART,
	    "Directory of the LMDB data store.", NULL },
	{ "db_map_size_mb", KEY_LONG, FIELD(db_map_size_mb, long),
	    "1024", 1, 1048576, KEY_RESTART,
	    "Largest size the data store may reach, in MiB.", NULL },
	{ "db_sync", KEY_BOOL, FIELD(db_sync, int),
	    "on", 0, 1, 0,
	    "Answer a write only once it is on disk (one sync per write "
	    "group, shared by the workers; a system crash never damages the "
	    "store); off is faster, a system crash may lose writes or damage "
	    "the store.", NULL },
	{ "write_group_max_items", KEY_LONG, FIELD(write_group_max_items, long),
	    "512", 1, 1024, 0,
	    "Most write items a worker applies in one transaction and makes "
	    "durable with one sync (group commit).", NULL },
	{ "write_group_max_bytes", KEY_LONG, FIELD(write_group_max_bytes, long),
	    "8388608", 4096, 1073741824, 0,
	    "A write group stops taking items once they total this many "
	    "bytes; a larger item is committed alone.", NULL },
	{ "ring_slots", KEY_LONG, FIELD(ring_slots, long),
	    "4096", 16, 1048576, KEY_POW2 | KEY_RESTART,
	    "Slots of the shared-memory ring that carries items to workers.", NULL },
	{ "ring_slot_bytes", KEY_LONG, FIELD(ring_slot_bytes, long),
	    "4096", 256, 1048576, KEY_MUL64 | KEY_RESTART,
	    "Bytes per ring slot; the whole ring must hold max_body_bytes + "
	    "64 KiB.", NULL },
	{ "max_batch_items", KEY_LONG, FIELD(max_batch_items, long),
	    "100", 1, 100000, 0,
	    "Most items in one synchronous batch (POST /v1/$batch).", NULL },
	{ "max_async_items", KEY_LONG, FIELD(max_async_items, long),
	    "10000", 1, 10000000, 0,
	    "Most items in one asynchronous batch (POST /v1/batches).", NULL },
	{ "max_body_bytes", KEY_LONG, FIELD(max_body_bytes, long),
	    "4194304", 1024, 1073741824, 0,
	    "Largest request body, in bytes.", NULL },
	{ "max_result_bytes", KEY_LONG, FIELD(max_result_bytes, long),
	    "8388608", 4096, 1073741824, KEY_RESTART,
	    "Largest result of one item, in bytes; at least max_body_bytes + "
	    "64 KiB.", NULL },
	{ "max_pending_items", KEY_LONG, FIELD(max_pending_items, long),
	    "100000", 1, 100000000, 0,
	    "Most items accepted and not yet finished; beyond it, 503.", NULL },
	{ "max_connections", KEY_LONG, FIELD(max_connections, long),
	    "0", 0, 10000000, 0,
	    "Most client connections at once; past it the server stops "
	    "accepting for a moment. 0: the file-descriptor limit less a "
	    "reserve.", NULL },
	{ "max_header_bytes", KEY_LONG, FIELD(max_header_bytes, long),
	    "65536", 1024, 16777216, 0,
	    "Largest request line and header fields together, in bytes.", NULL },
	{ "header_timeout_ms", KEY_LONG, FIELD(header_timeout_ms, long),
	    "30000", 1, 86400000, 0,
	    "Deadline for a whole request header, from its first byte (or "
	    "from the connection's start).", NULL },
	{ "body_timeout_ms", KEY_LONG, FIELD(body_timeout_ms, long),
	    "60000", 1, 86400000, 0,
	    "Deadline for a whole request body, from the end of its header.", NULL },
	{ "keepalive_timeout_ms", KEY_LONG, FIELD(keepalive_timeout_ms, long),
	    "60000", 1, 86400000, 0,
	    "An idle keep-alive connection is closed after this long.", NULL },
	{ "send_timeout_ms", KEY_LONG, FIELD(send_timeout_ms, long),
	    "60000", 1, 86400000, 0,
	    "A connection whose client reads nothing of the answer for this "
	    "long is closed.", NULL },
	{ "linger_ms", KEY_LONG, FIELD(linger_ms, long),
	    "5000", 0, 600000, 0,
	    "After an early error answer, read and discard what the client "
	    "still sends (up to max_body_bytes more) for at most this long.", NULL },
	{ "accept_backoff_ms", KEY_LONG, FIELD(accept_backoff_ms, long),
	    "100", 1, 60000, 0,
	    "Pause in accepting after the descriptor limit was hit.", NULL },
	{ "max_conn_output_bytes", KEY_LONG, FIELD(max_conn_output_bytes, long),
	    "1048576", 4096, 1073741824, 0,
	    "Unsent answer bytes per connection past which its batch runs "
	    "no further items until the client reads.", NULL },
	{ "max_batch_inflight", KEY_LONG, FIELD(max_batch_inflight, long),
	    "100", 1, 100000, 0,
	    "Most items of one batch in the ring or running at once (lower "
	    "it where rows are large: it bounds the results held).", NULL },
	{ "max_response_bytes", KEY_LONG, FIELD(max_response_bytes, long),
	    "67108864", 65536, 4294967295, 0,
	    "Largest answer of one synchronous batch or async result page; "
	    "items past it are not run (413 each).", NULL },
	{ "async_buffer_bytes", KEY_LONG, FIELD(async_buffer_bytes, long),
	    "8388608", 1048576, 1073741824, 0,
	    "Answers the master gives an asynchronous batch itself (failed "
	    "dependencies, cancellations, crashes) held until stored; past it "
	    "the batch waits for the store (workers store the rest with "
	    "their items).", NULL },
	{ "tls_cert_file", KEY_STRING, FIELD(tls_cert_file, char *),
	    "", 0, STRMAX(tls_cert_file), 0,
	    "PEM certificate chain; with tls_key_file the listener speaks "
	    "HTTPS only (TLS 1.2, 1.3); SIGHUP re-reads both.",
	    "/etc/batchd/cert.pem" },
	{ "tls_key_file", KEY_STRING, FIELD(tls_key_file, char *),
	    "", 0, STRMAX(tls_key_file), 0,
	    "PEM private key of tls_cert_file.", "/etc/batchd/key.pem" },
	{ "item_timeout_ms", KEY_LONG, FIELD(item_timeout_ms, long),
	    "5000", 1, 86400000, 0,
	    "An item running longer is answered 504 and its worker replaced.", NULL },
	{ "item_timeout_max_ms", KEY_LONG, FIELD(item_timeout_max_ms, long),
	    "600000", 1, 86400000, 0,
	    "Longest timeout a request may ask for with Prefer: wait=N.", NULL },
	{ "quarantine_cooldown_ms", KEY_LONG,
	    FIELD(quarantine_cooldown_ms, long),
	    "30000", 0, 86400000, 0,
	    "An item that timed out, crashed or ran out of memory is "
	    "answered the same, without running, for this long; 0: off.", NULL },
	{ "quarantine_cooldown_max_ms", KEY_LONG,
	    FIELD(quarantine_cooldown_max_ms, long),
	    "600000", 0, 86400000, 0,
	    "The cool-down doubles each time the item fails again, up to "
	    "this.", NULL },
	{ "quarantine_max_entries", KEY_LONG,
	    FIELD(quarantine_max_entries, long),
	    "10000", 1, 1000000, 0,
	    "Items remembered by the quarantine; the oldest go first.", NULL },
	{ "worker_memory_mb", KEY_LONG, FIELD(worker_memory_mb, long),
	    "1024", 0, 1048576, 0,
	    "Address-space limit of each worker, in MiB; 0 means unlimited.", NULL },
	{ "worker_max_items", KEY_LONG, FIELD(worker_max_items, long),
	    "0", 0, LONG_MAX, 0,
	    "Recycle a worker after this many items; 0 means never.", NULL },
	{ "worker_spin_us", KEY_LONG, FIELD(worker_spin_us, long),
	    "20", 0, 100000, 0,
	    "Microseconds an idle worker watches the ring before it sleeps.", NULL },
	{ "master_spin_us", KEY_LONG, FIELD(master_spin_us, long),
	    "20", 0, 100000, 0,
	    "Microseconds the master, with nothing to do but answers in "
	    "flight, keeps polling the completion rings and its sockets "
	    "(yielding) before it sleeps; 0 sleeps at once.", NULL },
	{ "query_max_rows_scanned", KEY_LONG,
	    FIELD(query_max_rows_scanned, long),
	    "10000000", 1, LONG_MAX, 0,
	    "A query that scans more rows is answered 422.", NULL },
	{ "query_max_result_rows", KEY_LONG,
	    FIELD(query_max_result_rows, long),
	    "10000", 1, LONG_MAX, 0,
	    "A query that returns more rows answers the first ones and a "
	    "PartialError.", NULL },
	{ "query_parallel_rows", KEY_LONG, FIELD(query_parallel_rows, long),
	    "50000", 0, LONG_MAX, 0,
	    "A query over a table of more rows is split by key range into "
	    "parts run by idle workers and merged (0: never split).", NULL },
	{ "query_parallel_parts", KEY_LONG, FIELD(query_parallel_parts, long),
	    "0", 0, 64, 0,
	    "Parts a split query is cut into (0: as many as workers; fewer "
	    "than 2: never split).", NULL },
	{ "query_max_workspaces", KEY_LONG, FIELD(query_max_workspaces, long),
	    "100", 0, 10000, 0,
	    "Most workspaces a query may add with \"workspaces\": [...].", NULL },
	{ "async_result_ttl_s", KEY_LONG, FIELD(async_result_ttl_s, long),
	    "3600", 1, LONG_MAX, 0,
	    "Seconds an asynchronous batch's results are kept after it ends.", NULL },
	{ "debug_ops", KEY_BOOL, FIELD(debug_ops, int),
	    "off", 0, 1, 0,
	    "Enable the /debug/sleep, /debug/crash and /debug/alloc items.", NULL },
	{ "user", KEY_STRING, FIELD(user, char *),
	    "", 0, STRMAX(user), KEY_RESTART,
	    "Started as root, drop to this user once the socket is bound "
	    "(none: stay).", "batchd" },
	{ "log_level", KEY_LOGLEVEL, FIELD(log_level, enum log_level),
	    "info", 0, 0, 0,
	    "Least severe log lines written.", NULL },
	{ "log_file", KEY_STRING, FIELD(log_file, char *),
	    "", 0, STRMAX(log_file), KEY_RESTART,
	    "File the master and workers log to, appended (none: standard "
	    "error); SIGUSR1 reopens it after rotation.",
	    "/var/log/batchd/batchd.log" },
	{ "token", KEY_TOKEN, FIELD(tokens, struct config_token *),
	    "SECRET ws1,ws2", 0, 0, 0,
	    "Bearer tokens, one per line, with the workspaces each may use; "
	    "none: no auth.", NULL },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

#define KEY_NAME_MAX	64	/* longer than any key: cannot be one */
#define WS_NAME_MAX	64	/* SPEC 1: [A-Za-z0-9_-]{1,64} */

static void	seterr(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * The table row for key, '-' and '_' alike; NULL if there is none.  Key
 * names are compared exactly otherwise (lower case, as documented).
 */
static const struct config_key *
key_find(const char *key)
{
	char	 norm[KEY_NAME_MAX + 1];
	size_t	 i, n;

	if ((n = strlen(key)) > KEY_NAME_MAX)
		return NULL;
	for (i = 0; i < n; i++)
		norm[i] = key[i] == '-' ? '_' : key[i];
	norm[n] = '\0';
	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].k_name, norm) == 0)
			return &keys[i];
	return NULL;
}

/* "1..256", or "at least 0" when there is no useful upper bound (and the
 * sample config stays the same on 32- and 64-bit hosts). */
static void
range_text(const struct config_key *k, char *buf, size_t len)
{
	if (k->k_max == LONG_MAX)
		snprintf(buf, len, "at least %ld", k->k_min);
	else
		snprintf(buf, len, "%ld..%ld", k->k_min, k->k_max);
}

/*
 * Strict decimal: an optional '-' then digits only, nothing after.  Returns
 * 0, -1 if s is not a decimal integer, -2 if it does not fit in a long.
 */
static int
parse_long(const char *s, long *out)
{
	const char	*p = s;
	unsigned long	 v = 0, lim;
	int		 neg = 0, d;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (!isdigit((unsigned char)*p))
		return -1;
	lim = neg ? (unsigned long)LONG_MAX + 1 : (unsigned long)LONG_MAX;
	for (; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		d = *p - '0';
		if (v > (lim - (unsigned long)d) / 10)
			return -2;
		v = v * 10 + (unsigned long)d;
	}
	if (neg)
		*out = v == (unsigned long)LONG_MAX + 1 ? LONG_MIN :
		    -(long)v;
	else
		*out = (long)v;
	return 0;
}

static int
set_long(const struct config_key *k, long *field, const char *value,
    char *err, size_t errlen)
{
	char	 range[64];
	long	 v;
	int	 rc;

	range_text(k, range, sizeof(range));
	if ((rc = parse_long(value, &v)) == -1) {
		seterr(err, errlen, "%s: \"%.64s\" is not a decimal integer "
		    "(%s)", k->k_name, value, range);
		return -1;
	}
	if (rc == -2 || v < k->k_min || v > k->k_max) {
		seterr(err, errlen, "%s: %.64s is out of range (%s)",
		    k->k_name, value, range);
		return -1;
	}
	if ((k->k_flags & KEY_POW2) && (v & (v - 1)) != 0) {
		seterr(err, errlen, "%s: %ld is not a power of two",
		    k->k_name, v);
		return -1;
	}
	if ((k->k_flags & KEY_MUL64) && v % 64 != 0) {
		seterr(err, errlen, "%s: %ld is not a multiple of 64",
		    k->k_name, v);
		return -1;
	}
	*field = v;
	return 0;
}

static int
set_bool(const struct config_key *k, int *field, const char *value,
    char *err, size_t errlen)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*field = 1;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*field = 0;
			return 0;
		}
	}
	seterr(err, errlen, "%s: \"%.64s\" is not on or off", k->k_name,
	    value);
	return -1;
}

static int
set_string(const struct config_key *k, char *field, const char *value,
    char *err, size_t errlen)
{
	if (strlen(value) > (size_t)k->k_max) {
		seterr(err, errlen, "%s: longer than %ld bytes", k->k_name,
		    k->k_max);
		return -1;
	}
	strcpy(field, value);
	return 0;
}

static int
set_loglevel(const struct config_key *k, enum log_level *field,
    const char *value, char *err, size_t errlen)
{
	char	 names[64];

	if (log_level_parse(value, field) == 0)
		return 0;
	log_level_list(names, sizeof(names), ", ", " or ");
	seterr(err, errlen, "%s: \"%.64s\" is not %s", k->k_name, value,
	    names);
	return -1;
}

/*
 * A host name: dot-separated labels of 1..63 letters, digits and '-', no
 * label starting or ending with '-'.  A name of digits and dots only is
 * meant as an IPv4 address, so it must be one ("999.1.1.1" is refused).
 */
static int
host_valid(const char *h)
{
	unsigned char	 addr[4];
	size_t		 label = 0;
	char		 prev = '.';
	const char	*p;

	if (h[strspn(h, "0123456789.")] == '\0')
		return inet_pton(AF_INET, h, addr) == 1;
	for (p = h; *p != '\0'; prev = *p, p++) {
		if (*p == '.') {
			if (label == 0 || prev == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*p) ||
		    (*p == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return prev != '-';
}

/*
 * HOST:PORT, [IPV6]:PORT.  The host is stored without brackets, ready for
 * getaddrinfo(); the port is 0..65535, 0 meaning any free port.
 */
static int
set_listen(const struct config_key *k, struct config *c, const char *value,
    char *err, size_t errlen)
{
	char		 host[sizeof(c->listen_host)];
	unsigned char	 addr[16];
	const char	*colon, *port;
	size_t		 hlen;
	long		 p;
	int		 rc;

	if (value[0] == '[') {
		const char *rb = strchr(value, ']');

		if (rb == NULL || rb[1] != ':') {
			seterr(err, errlen, "%s: \"%.128s\" is not [IPV6]:PORT",
			    k->k_name, value);
			return -1;
		}
		hlen = (size_t)(rb - value - 1);
		if (hlen >= sizeof(host))
			goto badhost;
		memcpy(host, value + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1) {
			seterr(err, errlen, "%s: \"%.128s\" is not an IPv6 "
			    "address", k->k_name, host);
			return -1;
		}
		port = rb + 2;
	} else {
		if ((colon = strrchr(value, ':')) == NULL) {
			seterr(err, errlen, "%s: \"%.128s\" has no port "
			    "(HOST:PORT)", k->k_name, value);
			return -1;
		}
		if (memchr(value, ':', (size_t)(colon - value)) != NULL) {
			seterr(err, errlen, "%s: \"%.128s\": an IPv6 address "
			    "needs brackets, as in [::1]:8080", k->k_name,
			    value);
			return -1;
		}
		hlen = (size_t)(colon - value);
		if (hlen >= sizeof(host))
			goto badhost;
		memcpy(host, value, hlen);
		host[hlen] = '\0';
		if (!host_valid(host))
			goto badhost;
		port = colon + 1;
	}
	if ((rc = parse_long(port, &p)) == -1) {
		seterr(err, errlen, "%s: port \"%.32s\" is not a decimal "
		    "integer (0..65535)", k->k_name, port);
		return -1;
	}
	if (rc == -2 || p < 0 || p > 65535) {
		seterr(err, errlen, "%s: port %.32s is out of range (0..65535)",
		    k->k_name, port);
		return -1;
	}
	memcpy(c->listen_host, host, hlen + 1);
	c->listen_port = (int)p;
	return 0;

badhost:
	seterr(err, errlen, "%s: \"%.128s\" is not a host name or IPv4 address",
	    k->k_name, value);
	return -1;
}

static int
ws_name_valid(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > WS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return 0;
	return 1;
}

static void
token_free(struct config_token *t)
{
	char	**w;

	free(t->secret);
	if (t->workspaces != NULL)
		for (w = t->workspaces; *w != NULL; w++)
			free(*w);
	free(t->workspaces);
	memset(t, 0, sizeof(*t));
}

/*
 * "SECRET WS[,WS...]" or "SECRET *" into t.  Spaces around the commas are
 * allowed.  Messages say "token line" and never quote the line.
 */
static int
token_parse(struct config_token *t, const char *value, char *err,
    size_t errlen)
{
	const char	*p, *s, *e, *list;
	size_t		 n, nws, i;

	memset(t, 0, sizeof(*t));
	for (p = value; *p != '\0' && !isspace((unsigned char)*p); p++)
		if (iscntrl((unsigned char)*p)) {
			seterr(err, errlen, "token line: the secret has a "
			    "control character");
			return -1;
		}
	n = (size_t)(p - value);
	while (isspace((unsigned char)*p))
		p++;
	list = p;
	if (n == 0 || *list == '\0') {
		seterr(err, errlen, "token line: expected SECRET "
		    "WORKSPACE[,WORKSPACE...] or SECRET *");
		return -1;
	}
	if ((t->secret = strndup(value, n)) == NULL)
		goto nomem;

	if (strcmp(list, "*") == 0) {
		t->all = 1;
		if ((t->workspaces = calloc(1, sizeof(char *))) == NULL)
			goto nomem;
		return 0;
	}
	for (nws = 1, p = list; *p != '\0'; p++)
		if (*p == ',')
			nws++;
	if ((t->workspaces = calloc(nws + 1, sizeof(char *))) == NULL)
		goto nomem;
	for (i = 0, s = list; i < nws; i++, s = e + 1) {
		if ((e = strchr(s, ',')) == NULL)
			e = s + strlen(s);
		while (s < e && isspace((unsigned char)*s))
			s++;
		n = (size_t)(e - s);
		while (n > 0 && isspace((unsigned char)s[n - 1]))
			n--;
		if (n == 1 && *s == '*') {
			seterr(err, errlen, "token line: \"*\" must stand "
			    "alone");
			goto fail;
		}
		if (!ws_name_valid(s, n)) {
			seterr(err, errlen, "token line: workspace %zu is not "
			    "a valid name ([A-Za-z0-9_-]{1,64})", i + 1);
			goto fail;
		}
		if ((t->workspaces[i] = strndup(s, n)) == NULL)
			goto nomem;
	}
	return 0;

nomem:
	seterr(err, errlen, "token line: out of memory");
fail:
	token_free(t);
	return -1;
}

static int
token_add(struct config *c, const char *value, char *err, size_t errlen)
{
	struct config_token	 t, *nt;
	size_t			 i;

	if (token_parse(&t, value, err, errlen) == -1)
		return -1;
	for (i = 0; i < c->ntokens; i++) {
		if (strcmp(c->tokens[i].secret, t.secret) == 0) {
			seterr(err, errlen, "token line: duplicate secret "
			    "(same as token %zu)", i + 1);
			token_free(&t);
			return -1;
		}
	}
	nt = realloc(c->tokens, (c->ntokens + 1) * sizeof(*nt));
	if (nt == NULL) {
		seterr(err, errlen, "token line: out of memory");
		token_free(&t);
		return -1;
	}
	nt[c->ntokens++] = t;
	c->tokens = nt;
	return 0;
}

/* Set one key from its (trimmed, non-empty) text; c is unchanged on error. */
static int
key_set(const struct config_key *k, struct config *c, const char *value,
    char *err, size_t errlen)
{
	void	*field = (char *)c + k->k_off;

	switch (k->k_type) {
	case KEY_LONG:
		return set_long(k, field, value, err, errlen);
	case KEY_BOOL:
		return set_bool(k, field, value, err, errlen);
	case KEY_STRING:
		return set_string(k, field, value, err, errlen);
	case KEY_LOGLEVEL:
		return set_loglevel(k, field, value, err, errlen);
	case KEY_LISTEN:
		return set_listen(k, c, value, err, errlen);
	case KEY_TOKEN:
		return token_add(c, value, err, errlen);
	}
	seterr(err, errlen, "%s: unhandled key type", k->k_name);
	return -1;
}

void
config_defaults(struct config *c)
{
	char	 err[256];
	size_t	 i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].k_type == KEY_TOKEN)
			continue;
		/* The defaults are table text: a bad one is a bug here. */
		if (key_set(&keys[i], c, keys[i].k_def, err, sizeof(err))
		    == -1) {
			fprintf(stderr, "config: bad default: %s\n", err);
			abort();
		}
	}
}

int
config_set(struct config *c, const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct config_key	*k;
	char			*v;
	int			 rc;

	if ((k = key_find(key)) == NULL) {
		seterr(err, errlen, "unknown key \"%.64s\"", key);
		return -1;
	}
	if (value == NULL) {
		seterr(err, errlen, "%s: missing value", k->k_name);
		return -1;
	}
	if ((v = strdup(value)) == NULL) {
		seterr(err, errlen, "%s: out of memory", k->k_name);
		return -1;
	}
	value = trim(v);
	if (*value == '\0') {
		seterr(err, errlen, "%s: empty value", k->k_name);
		rc = -1;
	} else
		rc = key_set(k, c, value, err, errlen);
	free(v);
	return rc;
}

/* Cut a comment: '#' at the start of the line or after whitespace. */
static void
strip_comment(char *line)
{
	char	*p;

	for (p = line; *p != '\0'; p++) {
		if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

int
config_load_file(struct config *c, const char *path, char *err,
    size_t errlen)
{
	FILE		*f;
	char		*line = NULL, *key, *value, *eq, reason[512];
	size_t		 cap = 0;
	ssize_t		 n;
	long		 lineno = 0;
	int		 rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (memchr(line, '\0', (size_t)n) != NULL) {
			snprintf(reason, sizeof(reason), "NUL byte in line");
			goto bad;
		}
		strip_comment(line);
		key = trim(line);
		if (*key == '\0')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			snprintf(reason, sizeof(reason),
			    "expected \"key = value\" (no '=')");
			goto bad;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		if (*key == '\0') {
			snprintf(reason, sizeof(reason),
			    "expected \"key = value\" (no key before '=')");
			goto bad;
		}
		if (config_set(c, key, value, reason, sizeof(reason)) == -1)
			goto bad;
	}
	if (ferror(f)) {
		seterr(err, errlen, "%s: read error: %s", path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;

bad:
	seterr(err, errlen, "%s:%ld: %s", path, lineno, reason);
out:
	free(line);
	fclose(f);
	return rc;
}

int
config_check(const struct config *c, char *err, size_t errlen)
{
	long long	 ring, need;

	if ((c->tls_cert_file[0] == '\0') != (c->tls_key_file[0] == '\0')) {
		seterr(err, errlen, "tls_cert_file and tls_key_file go "
		    "together: set both (HTTPS) or neither (HTTP)");
		return -1;
	}
	/* Both at most 2^20 by the table, so the product fits. */
	ring = (long long)c->ring_slots * c->ring_slot_bytes;
	need = (long long)c->max_body_bytes + CONFIG_ITEM_SLACK;
	if (ring < need) {
		seterr(err, errlen, "ring_slots * ring_slot_bytes (%ld * %ld = "
		    "%lld) must be at least max_body_bytes + %d (%lld): the "
		    "ring must hold the largest item", c->ring_slots,
		    c->ring_slot_bytes, ring, CONFIG_ITEM_SLACK, need);
		return -1;
	}
	if ((long long)c->max_result_bytes < need) {
		seterr(err, errlen, "max_result_bytes (%ld) must be at least "
		    "max_body_bytes + %d (%lld): a row read must fit in a "
		    "result", c->max_result_bytes, CONFIG_ITEM_SLACK, need);
		return -1;
	}
	return 0;
}

int
config_known(const char *key)
{
	return key_find(key) != NULL;
}

int
config_copy(struct config *dst, const struct config *src)
{
	struct config_token	*t, *s;
	size_t			 i, j, nws;

	*dst = *src;
	dst->tokens = NULL;
	dst->ntokens = 0;
	if (src->ntokens == 0)
		return 0;
	if ((dst->tokens = calloc(src->ntokens, sizeof(*t))) == NULL)
		return -1;
	for (i = 0; i < src->ntokens; i++, dst->ntokens++) {
		s = &src->tokens[i];
		t = &dst->tokens[i];
		t->all = s->all;
		for (nws = 0; s->workspaces[nws] != NULL; nws++)
			;
		if ((t->secret = strdup(s->secret)) == NULL ||
		    (t->workspaces = calloc(nws + 1, sizeof(char *))) == NULL)
			goto fail;
		for (j = 0; j < nws; j++)
			if ((t->workspaces[j] = strdup(s->workspaces[j])) ==
			    NULL)
				goto fail;
	}
	return 0;

fail:
	/* The half-built token i is counted so config_free releases it. */
	dst->ntokens++;
	config_free(dst);
	return -1;
}

void
config_free(struct config *c)
{
	size_t	 i;

	for (i = 0; i < c->ntokens; i++)
		token_free(&c->tokens[i]);
	free(c->tokens);
	c->tokens = NULL;
	c->ntokens = 0;
}

/* What a key accepts, for the documentation: "" when any text goes. */
static void
key_values(const struct config_key *k, char *buf, size_t len)
{
	char	 range[48];

	buf[0] = '\0';
	switch (k->k_type) {
	case KEY_LONG:
		range_text(k, range, sizeof(range));
		snprintf(buf, len, "%s%s%s", range,
		    k->k_flags & KEY_POW2 ? ", a power of two" : "",
		    k->k_flags & KEY_MUL64 ? ", a multiple of 64" : "");
		break;
	case KEY_BOOL:
		snprintf(buf, len, "on|off");
		break;
	case KEY_LOGLEVEL:
		log_level_list(buf, len, "|", "|");
		break;
	case KEY_STRING:
	case KEY_LISTEN:
	case KEY_TOKEN:
		break;
	}
}

void
config_dump(FILE *f)
{
	const struct config_key	*k;
	char			 values[128];
	size_t			 i;

	fputs("# batchd.conf - batchd configuration.\n"
	    "#\n"
	    "# Written by \"batchd --dump-config\" from the key table in "
	    "common/config.c:\n"
	    "# every key with its default.  One \"key = value\" per line; "
	    "'#' starts a\n"
	    "# comment at the start of a line or after a space; blank lines "
	    "are ignored.\n"
	    "# '-' and '_' are the same in key names, and every key can also "
	    "be given\n"
	    "# on the command line as --key value, which overrides this "
	    "file.\n", f);
	for (i = 0; i < NKEYS; i++) {
		k = &keys[i];
		fprintf(f, "\n# %s\n", k->k_doc);
		key_values(k, values, sizeof(values));
		if (values[0] != '\0')
			fprintf(f, "# Values: %s\n", values);
		if (k->k_flags & KEY_RESTART)
			fputs("# Changes only on restart (SIGHUP keeps the "
			    "running value).\n", f);
		if (k->k_type == KEY_TOKEN)
			fprintf(f, "#%s = %s\n#%s = SECRET *\n", k->k_name,
			    k->k_def, k->k_name);
		else if (k->k_def[0] == '\0')
			fprintf(f, "#%s = %s\n", k->k_name, k->k_example);
		else
			fprintf(f, "%s = %s\n", k->k_name, k->k_def);
	}
}

/* A Markdown table cell: '|' would end it. */
static void
md_cell(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', f);
		fputc(*s, f);
	}
}

void
config_dump_markdown(FILE *f)
{
	const struct config_key	*k;
	char			 values[128];
	size_t			 i;

	fputs("| key | default | values | on SIGHUP | meaning |\n"
	    "|---|---|---|---|---|\n", f);
	for (i = 0; i < NKEYS; i++) {
		k = &keys[i];
		key_values(k, values, sizeof(values));
		if (k->k_type == KEY_TOKEN || k->k_def[0] == '\0')
			fprintf(f, "| `%s` | (none) | ", k->k_name);
		else
			fprintf(f, "| `%s` | `%s` | ", k->k_name, k->k_def);
		if (k->k_type == KEY_TOKEN)
			fputs("`SECRET WS[,WS...]` or `SECRET *`, one line each",
			    f);
		else
			md_cell(f, values);
		fprintf(f, " | %s | ", k->k_flags & KEY_RESTART ?
		    "restart only" : "applied");
		md_cell(f, k->k_doc);
		fputs(" |\n", f);
	}
}

/* Text lines for a man page: a backslash is \e, no line starts with a
 * control character ('.' or '\''), lines break at a space past 64
 * columns (mandoc -Tlint wants them under 80). */
static void
man_text(FILE *f, const char *s)
{
	size_t	 col = 0;

	for (; *s != '\0'; s++) {
		if (col == 0 && (*s == '.' || *s == '\''))
			fputs("\\&", f);
		if (*s == ' ' && col > 64) {
			fputc('\n', f);
			col = 0;
			continue;
		}
		if (*s == '\\')
			fputs("\\e", f);
		else
			fputc(*s, f);
		col++;
	}
	fputc('\n', f);
}

/*
 * batchd.conf(5), in mdoc(7).  The date is that of the last change to
 * this page's fixed text, so the page is the same on every build.
 */
void
config_dump_man(FILE *f)
{
	const struct config_key	*k;
	char			 values[128];
	size_t			 i;

	fputs(".\\\" Written by \"batchd --dump-config=man\" from the key "
	    "table in common/config.c.\n"
	    ".Dd December 4, 2026\n"
	    ".Dt BATCHD.CONF 5\n"
	    ".Os\n"
	    ".Sh NAME\n"
	    ".Nm batchd.conf\n"
	    ".Nd batchd configuration file\n"
	    ".Sh DESCRIPTION\n"
	    ".Nm\n"
	    "holds one\n"
	    ".Dq key = value\n"
	    "per line.\n"
	    "A\n"
	    ".Sq #\n"
	    "starts a comment at the start of a line or after a space;\n"
	    "blank lines are ignored.\n"
	    "A key given twice keeps its last value, except\n"
	    ".Ic token ,\n"
	    "which adds one token per line.\n"
	    "In key names\n"
	    ".Sq -\n"
	    "and\n"
	    ".Sq _\n"
	    "are the same, and every key can also be given on the command "
	    "line as\n"
	    ".Fl - Ns Ar key value ,\n"
	    "which overrides the file.\n"
	    ".Pp\n"
	    "A file that does not parse is refused with the file, line and "
	    "reason:\n"
	    "at start-up\n"
	    ".Xr batchd 8\n"
	    "exits; on\n"
	    ".Dv SIGHUP\n"
	    "it keeps the running configuration and logs why.\n"
	    "Keys marked\n"
	    ".Dq restart only\n"
	    "keep their running value on\n"
	    ".Dv SIGHUP .\n"
	    ".Sh KEYS\n"
	    ".Bl -tag -width Ds\n", f);
	for (i = 0; i < NKEYS; i++) {
		k = &keys[i];
		key_values(k, values, sizeof(values));
		fprintf(f, ".It Ic %s Ar %s\n", k->k_name,
		    k->k_type == KEY_TOKEN ? "secret workspaces" :
		    k->k_type == KEY_LONG ? "number" :
		    k->k_type == KEY_BOOL ? "on | off" :
		    k->k_type == KEY_LOGLEVEL ? "level" :
		    k->k_type == KEY_LISTEN ? "host:port" : "string");
		man_text(f, k->k_doc);
		if (values[0] != '\0') {
			fputs("Values:\n", f);
			strcat(values, ".");
			man_text(f, values);
		}
		if (k->k_type == KEY_TOKEN) {
			fputs("For example:\n.Dl ", f);
			man_text(f, "token = SECRET ws1,ws2");
			fputs("or, for every workspace,\n.Dl ", f);
			man_text(f, "token = SECRET *");
		} else if (k->k_def[0] == '\0') {
			fputs("No default; for example:\n.Dl ", f);
			fprintf(f, "%s = ", k->k_name);
			man_text(f, k->k_example);
		} else {
			fprintf(f, "Default:\n.Ql %s .\n", k->k_def);
		}
		if (k->k_flags & KEY_RESTART)
			fputs("Changes only on restart.\n", f);
	}
	fputs(".El\n"
	    ".Sh FILES\n"
	    ".Bl -tag -width Ds -compact\n"
	    ".It Pa /etc/batchd/batchd.conf\n"
	    "the configuration read by the packaged service\n"
	    ".El\n"
	    ".Sh EXAMPLES\n"
	    ".Bd -literal -offset indent\n"
	    "listen = 127.0.0.1:8080\n"
	    "workers = 8\n"
	    "db_path = /var/lib/batchd\n"
	    "token = s3cr3t ws1,ws2\n"
	    ".Ed\n"
	    ".Sh SEE ALSO\n"
	    ".Xr batchd 8\n", f);
}

/*
 * SIGHUP: every restart-only key of nc takes old's value again; note() is
 * told each one whose value differed.
 */
void
config_keep_restart(struct config *nc, const struct config *old,
    void (*note)(const char *key, void *), void *arg)
{
	const struct config_key	*k;
	size_t			 i;
	int			 changed;

	for (i = 0; i < NKEYS; i++) {
		k = &keys[i];
		if (!(k->k_flags & KEY_RESTART))
			continue;
		changed = memcmp((char *)nc + k->k_off,
		    (const char *)old + k->k_off, k->k_size) != 0;
		memcpy((char *)nc + k->k_off, (const char *)old + k->k_off,
		    k->k_size);
		if (k->k_type == KEY_LISTEN) {
			changed |= nc->listen_port != old->listen_port;
			nc->listen_port = old->listen_port;
		}
		if (changed && note != NULL)
			note(k->k_name, arg);
	}
}
