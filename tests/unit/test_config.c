/*
 * test_config.c - unit tests for common/config.c.
 *
 * Run from the repository root (or set BATCHD_SRCDIR to it): tests
 * compare etc/batchd.conf, etc/batchd.conf.5 and README.md's table of
 * keys with what the key table writes, so none can drift from it.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define ERRLEN	512

/* Write text to a fresh file under /tmp; its name goes to path. */
static void
tmp_write(const char *text, char *path, size_t len)
{
	FILE	*f;
	int	 fd;

	snprintf(path, len, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	ck_assert_msg(fd != -1, "mkstemp failed");
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Load text as a config file on top of c.  path receives the temporary
 * file's name (already removed) so messages can be checked against it.
 */
static int
load_text(struct config *c, const char *text, char *path, size_t pathlen,
    char *err)
{
	int	 rc;

	tmp_write(text, path, pathlen);
	err[0] = '\0';
	rc = config_load_file(c, path, err, ERRLEN);
	unlink(path);
	return rc;
}

/* Every non-token field of a and b is equal. */
static void
assert_same_keys(const struct config *a, const struct config *b)
{
	ck_assert_str_eq(a->listen_host, b->listen_host);
	ck_assert_int_eq(a->listen_port, b->listen_port);
	ck_assert_int_eq(a->workers, b->workers);
	ck_assert_str_eq(a->db_path, b->db_path);
	ck_assert_int_eq(a->db_map_size_mb, b->db_map_size_mb);
	ck_assert_int_eq(a->db_sync, b->db_sync);
	ck_assert_int_eq(a->ring_slots, b->ring_slots);
	ck_assert_int_eq(a->ring_slot_bytes, b->ring_slot_bytes);
	ck_assert_int_eq(a->max_batch_items, b->max_batch_items);
	ck_assert_int_eq(a->max_async_items, b->max_async_items);
	ck_assert_int_eq(a->max_body_bytes, b->max_body_bytes);
	ck_assert_int_eq(a->max_result_bytes, b->max_result_bytes);
	ck_assert_int_eq(a->max_pending_items, b->max_pending_items);
	ck_assert_int_eq(a->item_timeout_ms, b->item_timeout_ms);
	ck_assert_int_eq(a->worker_memory_mb, b->worker_memory_mb);
	ck_assert_int_eq(a->worker_max_items, b->worker_max_items);
	ck_assert_int_eq(a->worker_spin_us, b->worker_spin_us);
	ck_assert_int_eq(a->master_spin_us, b->master_spin_us);
	ck_assert_int_eq(a->query_max_rows_scanned, b->query_max_rows_scanned);
	ck_assert_int_eq(a->query_max_result_rows, b->query_max_result_rows);
	ck_assert_int_eq(a->async_result_ttl_s, b->async_result_ttl_s);
	ck_assert_int_eq(a->debug_ops, b->debug_ops);
	ck_assert_int_eq(a->log_level, b->log_level);
}

static size_t
nworkspaces(const struct config_token *t)
{
	size_t	 n = 0;

	while (t->workspaces[n] != NULL)
		n++;
	return n;
}

START_TEST(test_user_key)
{
	struct config	 c;
	char		 err[ERRLEN], longname[200];

	config_defaults(&c);
	ck_assert_str_eq(c.user, "");
	ck_assert_int_eq(config_set(&c, "user", "nobody", err, sizeof(err)), 0);
	ck_assert_str_eq(c.user, "nobody");
	memset(longname, 'u', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(config_set(&c, "user", longname, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "user"));
	ck_assert_str_eq(c.user, "nobody");
	config_free(&c);
}
END_TEST

START_TEST(test_defaults)
{
	struct config	 c;
	char		 err[ERRLEN];

	config_defaults(&c);
	ck_assert_str_eq(c.listen_host, "127.0.0.1");
	ck_assert_int_eq(c.listen_port, 8080);
	ck_assert_int_eq(c.workers, 4);
	ck_assert_str_eq(c.db_path, "./data");
	ck_assert_int_eq(c.db_map_size_mb, 1024);
	ck_assert_int_eq(c.db_sync, 1);
	ck_assert_int_eq(c.ring_slots, 4096);
	ck_assert_int_eq(c.ring_slot_bytes, 4096);
	ck_assert_int_eq(c.max_batch_items, 100);
	ck_assert_int_eq(c.max_async_items, 10000);
	ck_assert_int_eq(c.max_body_bytes, 4194304);
	ck_assert_int_eq(c.max_result_bytes, 8388608);
	ck_assert_int_eq(c.max_pending_items, 100000);
	ck_assert_int_eq(c.item_timeout_ms, 5000);
	ck_assert_int_eq(c.worker_memory_mb, 1024);
	ck_assert_int_eq(c.worker_max_items, 0);
	ck_assert_int_eq(c.worker_spin_us, 20);
	ck_assert_int_eq(c.master_spin_us, 20);
	ck_assert_int_eq(c.query_max_rows_scanned, 10000000);
	ck_assert_int_eq(c.query_max_result_rows, 10000);
	ck_assert_int_eq(c.async_result_ttl_s, 3600);
	ck_assert_int_eq(c.debug_ops, 0);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_INFO);
	ck_assert_ptr_null(c.tokens);
	ck_assert_uint_eq(c.ntokens, 0);
	/* The defaults must be a valid configuration on their own. */
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), 0);
	config_free(&c);
}
END_TEST

START_TEST(test_every_key)
{
	struct config	 c;
	char		 path[64], err[ERRLEN];

	config_defaults(&c);
	ck_assert_int_eq(load_text(&c,
	    "listen = 10.1.2.3:9090\n"
	    "workers = 256\n"
	    "db_path = /var/lib/batchd\n"
	    "db_map_size_mb = 1048576\n"
	    "db_sync = off\n"
	    "ring_slots = 1048576\n"
	    "ring_slot_bytes = 1048576\n"
	    "max_batch_items = 100000\n"
	    "max_async_items = 10000000\n"
	    "max_body_bytes = 1073676288\n"
	    "max_result_bytes = 1073741824\n"
	    "max_pending_items = 100000000\n"
	    "item_timeout_ms = 86400000\n"
	    "worker_memory_mb = 0\n"
	    "worker_max_items = 9223372036854775807\n"
	    "query_max_rows_scanned = 1\n"
	    "query_max_result_rows = 2\n"
	    "async_result_ttl_s = 3\n"
	    "debug_ops = on\n"
	    "log_level = debug\n"
	    "token = alpha ws1,ws-2 , ws_3\n"
	    "token = beta *\n",
	    path, sizeof(path), err), 0);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(c.listen_host, "10.1.2.3");
	ck_assert_int_eq(c.listen_port, 9090);
	ck_assert_int_eq(c.workers, 256);
	ck_assert_str_eq(c.db_path, "/var/lib/batchd");
	ck_assert_int_eq(c.db_map_size_mb, 1048576);
	ck_assert_int_eq(c.db_sync, 0);
	ck_assert_int_eq(c.ring_slots, 1048576);
	ck_assert_int_eq(c.ring_slot_bytes, 1048576);
	ck_assert_int_eq(c.max_batch_items, 100000);
	ck_assert_int_eq(c.max_async_items, 10000000);
	ck_assert_int_eq(c.max_body_bytes, 1073676288);
	ck_assert_int_eq(c.max_result_bytes, 1073741824);
	ck_assert_int_eq(c.max_pending_items, 100000000);
	ck_assert_int_eq(c.item_timeout_ms, 86400000);
	ck_assert_int_eq(c.worker_memory_mb, 0);
	ck_assert(c.worker_max_items == 9223372036854775807L ||
	    c.worker_max_items == LONG_MAX);
	ck_assert_int_eq(c.query_max_rows_scanned, 1);
	ck_assert_int_eq(c.query_max_result_rows, 2);
	ck_assert_int_eq(c.async_result_ttl_s, 3);
	ck_assert_int_eq(c.debug_ops, 1);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);

	ck_assert_uint_eq(c.ntokens, 2);
	ck_assert_str_eq(c.tokens[0].secret, "alpha");
	ck_assert_int_eq(c.tokens[0].all, 0);
	ck_assert_uint_eq(nworkspaces(&c.tokens[0]), 3);
	ck_assert_str_eq(c.tokens[0].workspaces[0], "ws1");
	ck_assert_str_eq(c.tokens[0].workspaces[1], "ws-2");
	ck_assert_str_eq(c.tokens[0].workspaces[2], "ws_3");
	ck_assert_str_eq(c.tokens[1].secret, "beta");
	ck_assert_int_eq(c.tokens[1].all, 1);
	ck_assert_uint_eq(nworkspaces(&c.tokens[1]), 0);
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), 0);
	config_free(&c);
}
END_TEST

START_TEST(test_keys_not_in_file_keep_value)
{
	struct config	 c;
	char		 path[64], err[ERRLEN];

	config_defaults(&c);
	c.workers = 7;
	ck_assert_int_eq(load_text(&c, "item_timeout_ms = 100\n", path,
	    sizeof(path), err), 0);
	ck_assert_int_eq(c.workers, 7);
	ck_assert_int_eq(c.item_timeout_ms, 100);
	/* The last of two lines for one key wins, as an override would. */
	ck_assert_int_eq(load_text(&c, "workers = 2\nworkers = 3\n", path,
	    sizeof(path), err), 0);
	ck_assert_int_eq(c.workers, 3);
	config_free(&c);
}
END_TEST

START_TEST(test_dash_underscore)
{
	struct config	 c;
	char		 path[64], err[ERRLEN];

	config_defaults(&c);
	ck_assert_int_eq(load_text(&c,
	    "item-timeout-ms = 250\n"
	    "max_body-bytes = 2048\n"
	    "debug-ops = yes\n",
	    path, sizeof(path), err), 0);
	ck_assert_int_eq(c.item_timeout_ms, 250);
	ck_assert_int_eq(c.max_body_bytes, 2048);
	ck_assert_int_eq(c.debug_ops, 1);

	ck_assert_int_eq(config_set(&c, "db-map-size-mb", "7", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(c.db_map_size_mb, 7);
	ck_assert_int_eq(config_set(&c, "query_max-result_rows", "5", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(c.query_max_result_rows, 5);

	ck_assert_int_eq(config_known("worker-max-items"), 1);
	ck_assert_int_eq(config_known("worker_max_items"), 1);
	ck_assert_int_eq(config_known("listen"), 1);
	ck_assert_int_eq(config_known("token"), 1);
	ck_assert_int_eq(config_known("log-level"), 1);
	ck_assert_int_eq(config_known("nope"), 0);
	ck_assert_int_eq(config_known(""), 0);
	ck_assert_int_eq(config_known("workers_"), 0);
	ck_assert_int_eq(config_known("WORKERS"), 0);

	ck_assert_int_eq(config_set(&c, "no-such-key", "1", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "unknown key \"no-such-key\"");
	config_free(&c);
}
END_TEST

START_TEST(test_set_errors)
{
	struct config	 c;
	char		 err[ERRLEN];

	config_defaults(&c);
	/* A refused value leaves the old one in place. */
	ck_assert_int_eq(config_set(&c, "workers", "0", err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "workers: 0 is out of range (1..256)");
	ck_assert_int_eq(c.workers, 4);
	ck_assert_int_eq(config_set(&c, "listen", "1.2.3.4:99999", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(c.listen_host, "127.0.0.1");
	ck_assert_int_eq(c.listen_port, 8080);

	ck_assert_int_eq(config_set(&c, "workers", NULL, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "workers: missing value");
	ck_assert_int_eq(config_set(&c, "workers", " \t", err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "workers: empty value");
	/* Command-line values are trimmed like file values. */
	ck_assert_int_eq(config_set(&c, "workers", " 8 ", err, sizeof(err)),
	    0);
	ck_assert_int_eq(c.workers, 8);
	/* A tiny buffer is filled, truncated, not overrun. */
	ck_assert_int_eq(config_set(&c, "workers", "x", err, 8), -1);
	ck_assert_str_eq(err, "workers");
	ck_assert_int_eq(config_set(&c, "workers", "x", NULL, 0), -1);

	ck_assert_int_eq(config_set(&c, "token", "abc *", err, sizeof(err)),
	    0);
	ck_assert_int_eq(config_set(&c, "token", "abc ws", err, sizeof(err)),
	    -1);
	ck_assert_uint_eq(c.ntokens, 1);
	ck_assert_ptr_null(strstr(err, "abc"));
	config_free(&c);
}
END_TEST

static const struct {
	const char	*text;
	int		 line;
	const char	*reason;
} bad_files[] = {
	{ "workers = 4\nfrobnicate = 1\n", 2, "unknown key \"frobnicate\"" },
	{ "\n# comment\nworkers 4\n", 3, "expected \"key = value\" (no '=')" },
	{ "workers\n", 1, "(no '=')" },
	{ "= 4\n", 1, "(no key before '=')" },
	{ "workers =\n", 1, "workers: empty value" },
	{ "workers =   # nothing\n", 1, "workers: empty value" },
	{ "db_path=\n", 1, "db_path: empty value" },
	{ "token =\n", 1, "token: empty value" },
	{ "workers = abc\n", 1,
	    "workers: \"abc\" is not a decimal integer (1..256)" },
	{ "workers = 12x\n", 1, "workers: \"12x\" is not a decimal integer" },
	{ "workers = 0x10\n", 1, "workers: \"0x10\" is not a decimal integer" },
	{ "workers = 1.5\n", 1, "workers: \"1.5\" is not a decimal integer" },
	{ "workers = +4\n", 1, "workers: \"+4\" is not a decimal integer" },
	{ "workers = 4 4\n", 1, "workers: \"4 4\" is not a decimal integer" },
	{ "workers = -\n", 1, "workers: \"-\" is not a decimal integer" },
	{ "workers = 0\n", 1, "workers: 0 is out of range (1..256)" },
	{ "workers = 257\n", 1, "workers: 257 is out of range (1..256)" },
	{ "workers = -3\n", 1, "workers: -3 is out of range (1..256)" },
	{ "worker_spin_us = 100001\n", 1,
	    "worker_spin_us: 100001 is out of range (0..100000)" },
	{ "master_spin_us = -1\n", 1,
	    "master_spin_us: -1 is out of range (0..100000)" },
	{ "max_body_bytes = 1023\n", 1,
	    "max_body_bytes: 1023 is out of range (1024..1073741824)" },
	{ "max_body_bytes = 1073741825\n", 1,
	    "max_body_bytes: 1073741825 is out of range (1024..1073741824)" },
	{ "item_timeout_ms = 86400001\n", 1,
	    "item_timeout_ms: 86400001 is out of range (1..86400000)" },
	{ "worker_max_items = -1\n", 1,
	    "worker_max_items: -1 is out of range (at least 0)" },
	{ "worker_max_items = 99999999999999999999999\n", 1,
	    "worker_max_items: 99999999999999999999999 is out of range "
	    "(at least 0)" },
	{ "db_map_size_mb = -99999999999999999999999\n", 1,
	    "db_map_size_mb: -99999999999999999999999 is out of range "
	    "(1..1048576)" },
	{ "async_result_ttl_s = 0\n", 1,
	    "async_result_ttl_s: 0 is out of range (at least 1)" },
	{ "db_sync = maybe\n", 1, "db_sync: \"maybe\" is not on or off" },
	{ "debug_ops = 2\n", 1, "debug_ops: \"2\" is not on or off" },
	{ "log_level = verbose\n", 1,
	    "log_level: \"verbose\" is not error, warn, info or debug" },
	{ "ring_slots = 1000\n", 1, "ring_slots: 1000 is not a power of two" },
	{ "ring_slots = 8\n", 1, "ring_slots: 8 is out of range (16..1048576)" },
	{ "ring_slots = 2097152\n", 1,
	    "ring_slots: 2097152 is out of range (16..1048576)" },
	{ "ring_slot_bytes = 1000\n", 1,
	    "ring_slot_bytes: 1000 is not a multiple of 64" },
	{ "listen = 127.0.0.1\n", 1, "listen: \"127.0.0.1\" has no port" },
	{ "listen = 127.0.0.1:\n", 1,
	    "listen: port \"\" is not a decimal integer (0..65535)" },
	{ "listen = 127.0.0.1:http\n", 1,
	    "listen: port \"http\" is not a decimal integer" },
	{ "listen = 127.0.0.1:65536\n", 1,
	    "listen: port 65536 is out of range (0..65535)" },
	{ "listen = 127.0.0.1:-1\n", 1,
	    "listen: port -1 is out of range (0..65535)" },
	{ "listen = :8080\n", 1,
	    "listen: \":8080\" is not a host name or IPv4 address" },
	{ "listen = 999.1.1.1:80\n", 1, "is not a host name or IPv4 address" },
	{ "listen = 1.2.3:80\n", 1, "is not a host name or IPv4 address" },
	{ "listen = bad_host:80\n", 1, "is not a host name or IPv4 address" },
	{ "listen = -bad.example:80\n", 1, "is not a host name or IPv4 address" },
	{ "listen = bad-.example:80\n", 1, "is not a host name or IPv4 address" },
	{ "listen = a..b:80\n", 1, "is not a host name or IPv4 address" },
	{ "listen = ::1:8080\n", 1, "an IPv6 address needs brackets" },
	{ "listen = [::1]\n", 1, "listen: \"[::1]\" is not [IPV6]:PORT" },
	{ "listen = [::1]8080\n", 1, "is not [IPV6]:PORT" },
	{ "listen = [::1:8080\n", 1, "is not [IPV6]:PORT" },
	{ "listen = [nope]:80\n", 1, "listen: \"nope\" is not an IPv6 address" },
	{ "listen = [::1]:70000\n", 1,
	    "listen: port 70000 is out of range (0..65535)" },
};

START_TEST(test_file_errors)
{
	struct config	 c;
	char		 path[64], err[ERRLEN], where[96];

	config_defaults(&c);
	ck_assert_int_eq(load_text(&c, bad_files[_i].text, path, sizeof(path),
	    err), -1);
	snprintf(where, sizeof(where), "%s:%d: ", path, bad_files[_i].line);
	ck_assert_msg(strncmp(err, where, strlen(where)) == 0,
	    "case %d: \"%s\" does not start with \"%s\"", _i, err, where);
	ck_assert_msg(strstr(err, bad_files[_i].reason) != NULL,
	    "case %d: \"%s\" lacks \"%s\"", _i, err, bad_files[_i].reason);
	config_free(&c);
}
END_TEST

/* Bad token lines: every one uses the secret "s3cr3t", which must never
 * appear in the message. */
static const struct {
	const char	*text;
	int		 line;
	const char	*reason;
} bad_tokens[] = {
	{ "token = s3cr3t\n", 1, "token line: expected SECRET "
	    "WORKSPACE[,WORKSPACE...] or SECRET *" },
	{ "token = s3cr3t   # no workspaces\n", 1, "token line: expected" },
	{ "token = s3cr3t ws,\n", 1, "token line: workspace 2 is not a valid "
	    "name ([A-Za-z0-9_-]{1,64})" },
	{ "token = s3cr3t ws1,,ws2\n", 1, "token line: workspace 2 is not" },
	{ "token = s3cr3t ,ws\n", 1, "token line: workspace 1 is not" },
	{ "token = s3cr3t bad/name\n", 1, "token line: workspace 1 is not" },
	{ "token = s3cr3t ws1 ws2\n", 1, "token line: workspace 1 is not" },
	{ "token = s3cr3t s3cr3t.x\n", 1, "token line: workspace 1 is not" },
	{ "token = s3cr3t "
	    "a234567890123456789012345678901234567890123456789012345678901234"
	    "5\n", 1, "token line: workspace 1 is not" },
	{ "token = s3cr3t *,ws\n", 1, "token line: \"*\" must stand alone" },
	{ "token = s3cr3t ws,*\n", 1, "token line: \"*\" must stand alone" },
	{ "token = s3cr3t\001x ws\n", 1,
	    "token line: the secret has a control character" },
	{ "token = s3cr3t a\ntoken = other b\ntoken = s3cr3t c\n", 3,
	    "token line: duplicate secret (same as token 1)" },
	{ "token = s3cr3t a\ntoken = s3cr3t *\n", 2,
	    "token line: duplicate secret (same as token 1)" },
};

START_TEST(test_token_errors)
{
	struct config	 c;
	char		 path[64], err[ERRLEN], where[96];
	size_t		 before;

	config_defaults(&c);
	ck_assert_int_eq(load_text(&c, bad_tokens[_i].text, path, sizeof(path),
	    err), -1);
	snprintf(where, sizeof(where), "%s:%d: ", path, bad_tokens[_i].line);
	ck_assert_msg(strncmp(err, where, strlen(where)) == 0,
	    "case %d: \"%s\" does not start with \"%s\"", _i, err, where);
	ck_assert_msg(strstr(err, bad_tokens[_i].reason) != NULL,
	    "case %d: \"%s\" lacks \"%s\"", _i, err, bad_tokens[_i].reason);
	ck_assert_msg(strstr(err, "s3cr3t") == NULL,
	    "case %d: secret in \"%s\"", _i, err);
	/* The refused line added nothing: only good lines before it count. */
	before = (size_t)(bad_tokens[_i].line - 1);
	ck_assert_uint_eq(c.ntokens, before);
	config_free(&c);
}
END_TEST

START_TEST(test_db_path_too_long)
{
	struct config	 c;
	char		 err[ERRLEN], *v;
	size_t		 max = sizeof(c.db_path) - 1;

	config_defaults(&c);
	v = malloc(max + 2);
	ck_assert_ptr_nonnull(v);
	memset(v, 'a', max + 1);
	v[max + 1] = '\0';
	ck_assert_int_eq(config_set(&c, "db_path", v, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "db_path: longer than 4095 bytes");
	ck_assert_str_eq(c.db_path, "./data");
	v[max] = '\0';
	ck_assert_int_eq(config_set(&c, "db_path", v, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(c.db_path), max);
	free(v);
	config_free(&c);
}
END_TEST

START_TEST(test_missing_file)
{
	struct config	 c;
	char		 err[ERRLEN];

	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, "/nonexistent/batchd.conf", err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err,
	    "/nonexistent/batchd.conf: No such file or directory");
	config_free(&c);
}
END_TEST

START_TEST(test_comments_and_blank_lines)
{
	struct config	 c;
	char		 path[64], err[ERRLEN];

	config_defaults(&c);
	ck_assert_int_eq(load_text(&c,
	    "# a comment line\n"
	    "\n"
	    "   \t\n"
	    "  # an indented comment = with an equals sign\n"
	    "workers=3\n"
	    "\tdb_sync\t=\toff\t\n"
	    "item_timeout_ms = 42 # a trailing comment\n"
	    "log_level = warn\r\n"
	    "db_path = /tmp/a#b\n"
	    "token = se#cret ws1 # the '#' inside the secret is kept\n"
	    "#workers = 99\n"
	    "max_batch_items = 5",		/* no final newline */
	    path, sizeof(path), err), 0);
	ck_assert_int_eq(c.workers, 3);
	ck_assert_int_eq(c.db_sync, 0);
	ck_assert_int_eq(c.item_timeout_ms, 42);
	ck_assert_int_eq(c.log_level, LOG_LEVEL_WARN);
	ck_assert_str_eq(c.db_path, "/tmp/a#b");
	ck_assert_uint_eq(c.ntokens, 1);
	ck_assert_str_eq(c.tokens[0].secret, "se#cret");
	ck_assert_str_eq(c.tokens[0].workspaces[0], "ws1");
	ck_assert_ptr_null(c.tokens[0].workspaces[1]);
	ck_assert_int_eq(c.max_batch_items, 5);
	config_free(&c);

	/* A file of nothing but comments changes nothing. */
	config_defaults(&c);
	ck_assert_int_eq(load_text(&c, "# only\n\n# comments\n", path,
	    sizeof(path), err), 0);
	ck_assert_int_eq(c.workers, 4);
	config_free(&c);
}
END_TEST

START_TEST(test_listen_forms)
{
	struct config	 c;
	char		 err[ERRLEN];

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "listen", "[::1]:0", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.listen_host, "::1");
	ck_assert_int_eq(c.listen_port, 0);
	ck_assert_int_eq(config_set(&c, "listen", "localhost:65535", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.listen_host, "localhost");
	ck_assert_int_eq(c.listen_port, 65535);
	ck_assert_int_eq(config_set(&c, "listen", "0.0.0.0:1", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.listen_host, "0.0.0.0");
	ck_assert_int_eq(c.listen_port, 1);
	ck_assert_int_eq(config_set(&c, "listen", "host-1.Example.org:443",
	    err, sizeof(err)), 0);
	ck_assert_str_eq(c.listen_host, "host-1.Example.org");
	ck_assert_int_eq(config_set(&c, "listen", "[::ffff:127.0.0.1]:9",
	    err, sizeof(err)), 0);
	ck_assert_str_eq(c.listen_host, "::ffff:127.0.0.1");
	ck_assert_int_eq(c.listen_port, 9);
	ck_assert_int_eq(config_set(&c, "listen", "[::]:8080", err,
	    sizeof(err)), 0);
	ck_assert_str_eq(c.listen_host, "::");
	config_free(&c);
}
END_TEST

START_TEST(test_bool_and_log_level_words)
{
	static const char *const on[] = { "on", "true", "yes", "1", "ON",
	    "True" };
	static const char *const off[] = { "off", "false", "no", "0", "OFF",
	    "No" };
	static const struct {
		const char	*word;
		enum log_level	 level;
	} levels[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
		{ "DEBUG", LOG_LEVEL_DEBUG },
	};
	struct config	 c;
	char		 err[ERRLEN];
	size_t		 i;

	config_defaults(&c);
	for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		c.debug_ops = 0;
		ck_assert_int_eq(config_set(&c, "debug_ops", on[i], err,
		    sizeof(err)), 0);
		ck_assert_int_eq(c.debug_ops, 1);
		c.db_sync = 1;
		ck_assert_int_eq(config_set(&c, "db_sync", off[i], err,
		    sizeof(err)), 0);
		ck_assert_int_eq(c.db_sync, 0);
	}
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		ck_assert_int_eq(config_set(&c, "log_level", levels[i].word,
		    err, sizeof(err)), 0);
		ck_assert_int_eq(c.log_level, levels[i].level);
	}
	config_free(&c);
}
END_TEST

START_TEST(test_check)
{
	struct config	 c;
	char		 err[ERRLEN];

	config_defaults(&c);
	/* Exactly max_body_bytes + 64 KiB in the ring is enough... */
	c.ring_slots = 1024;
	c.ring_slot_bytes = 4160;
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), 0);
	/* ...one slot size less is not. */
	c.ring_slot_bytes = 4096;
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "ring_slots * ring_slot_bytes (1024 * 4096 = "
	    "4194304) must be at least max_body_bytes + 65536 (4259840): the "
	    "ring must hold the largest item");

	config_defaults(&c);
	c.max_result_bytes = 4259840;
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), 0);
	c.max_result_bytes = 4259839;
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "max_result_bytes (4259839) must be at least "
	    "max_body_bytes + 65536 (4259840): a row read must fit in a "
	    "result");

	/* The largest table values do not overflow the product. */
	config_defaults(&c);
	c.ring_slots = 1048576;
	c.ring_slot_bytes = 1048576;
	c.max_body_bytes = 1073741824;
	c.max_result_bytes = 1073741824;
	ck_assert_int_eq(config_check(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "max_result_bytes (1073741824)"));
	config_free(&c);
}
END_TEST

START_TEST(test_copy_free)
{
	struct config	 src, dst, empty;
	char		 path[64], err[ERRLEN];

	config_defaults(&src);
	ck_assert_int_eq(load_text(&src,
	    "workers = 9\n"
	    "token = one a,b\n"
	    "token = two *\n"
	    "token = three c\n",
	    path, sizeof(path), err), 0);
	ck_assert_int_eq(config_copy(&dst, &src), 0);
	assert_same_keys(&dst, &src);
	ck_assert_uint_eq(dst.ntokens, 3);
	ck_assert_ptr_ne(dst.tokens, src.tokens);
	ck_assert_ptr_ne(dst.tokens[0].secret, src.tokens[0].secret);
	ck_assert_ptr_ne(dst.tokens[0].workspaces, src.tokens[0].workspaces);
	ck_assert_ptr_ne(dst.tokens[0].workspaces[0],
	    src.tokens[0].workspaces[0]);

	/* The copy outlives the original: ASan would catch a shared byte. */
	config_free(&src);
	ck_assert_ptr_null(src.tokens);
	ck_assert_uint_eq(src.ntokens, 0);
	ck_assert_int_eq(dst.workers, 9);
	ck_assert_str_eq(dst.tokens[0].secret, "one");
	ck_assert_uint_eq(nworkspaces(&dst.tokens[0]), 2);
	ck_assert_str_eq(dst.tokens[0].workspaces[1], "b");
	ck_assert_str_eq(dst.tokens[1].secret, "two");
	ck_assert_int_eq(dst.tokens[1].all, 1);
	ck_assert_ptr_null(dst.tokens[1].workspaces[0]);
	ck_assert_str_eq(dst.tokens[2].workspaces[0], "c");
	config_free(&dst);
	config_free(&dst);		/* freeing twice is harmless */
	ck_assert_uint_eq(dst.ntokens, 0);

	config_defaults(&src);
	ck_assert_int_eq(config_copy(&empty, &src), 0);
	ck_assert_ptr_null(empty.tokens);
	assert_same_keys(&empty, &src);
	config_free(&empty);
	config_free(&src);
}
END_TEST

static char *
dump_text_with(void (*dump)(FILE *), size_t *len)
{
	char	*text = NULL;
	FILE	*f;

	f = open_memstream(&text, len);
	ck_assert_ptr_nonnull(f);
	dump(f);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

static char *
dump_text(size_t *len)
{
	return dump_text_with(config_dump, len);
}

/* The whole of a file of the repository (BATCHD_SRCDIR or "."). */
static char *
src_file(const char *name, size_t *len)
{
	const char	*dir;
	char		 path[4096], *text = NULL;
	FILE		*f, *m;
	int		 c;

	if ((dir = getenv("BATCHD_SRCDIR")) == NULL)
		dir = ".";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s (run from the repository "
	    "root or set BATCHD_SRCDIR)", path);
	m = open_memstream(&text, len);
	ck_assert_ptr_nonnull(m);
	while ((c = getc(f)) != EOF)
		putc(c, m);
	fclose(f);
	ck_assert_int_eq(fclose(m), 0);
	return text;
}

/* Each file written from the table is exactly what the table writes. */
static const struct {
	const char	*file;
	void		(*dump)(FILE *);
	const char	*how;
} generated[] = {
	{ "etc/batchd.conf", config_dump,
	    "bin/batchd --dump-config > etc/batchd.conf" },
	{ "etc/batchd.conf.5", config_dump_man,
	    "bin/batchd --dump-config=man > etc/batchd.conf.5" },
};

START_TEST(test_generated_files_are_dumps)
{
	char	*want, *got;
	size_t	 wantlen, gotlen;

	want = dump_text_with(generated[_i].dump, &wantlen);
	got = src_file(generated[_i].file, &gotlen);
	ck_assert_msg(gotlen == wantlen && memcmp(got, want, wantlen) == 0,
	    "%s differs from the key table: regenerate it with \"%s\" "
	    "(or make docs)", generated[_i].file, generated[_i].how);
	free(got);
	free(want);
}
END_TEST

/* README.md's table of keys, between its two markers, is the table's. */
START_TEST(test_readme_keys_are_dump)
{
	static const char begin[] = "<!-- config-keys:";
	static const char end[] = "<!-- end config-keys -->";
	char	*want, *readme, *b, *e;
	size_t	 wantlen, len;

	want = dump_text_with(config_dump_markdown, &wantlen);
	readme = src_file("README.md", &len);
	b = strstr(readme, begin);
	ck_assert_msg(b != NULL, "README.md has no \"%s\" marker", begin);
	b = strstr(b, "-->\n");
	ck_assert_ptr_nonnull(b);
	b += 4;
	e = strstr(b, end);
	ck_assert_msg(e != NULL, "README.md has no \"%s\" marker", end);
	ck_assert_msg((size_t)(e - b) == wantlen &&
	    memcmp(b, want, wantlen) == 0, "README.md's key table differs "
	    "from the key table: regenerate it with make docs");
	free(readme);
	free(want);
}
END_TEST

static void
note_key(const char *key, void *arg)
{
	char	*seen = arg;

	strcat(seen, key);
	strcat(seen, " ");
}

/* SIGHUP keeps the running value of exactly the restart-only keys, and
 * names each that changed; the others take the new value. */
START_TEST(test_keep_restart)
{
	struct config	 old, nc;
	char		 err[ERRLEN], seen[512] = "";

	config_defaults(&old);
	config_defaults(&nc);
	ck_assert_int_eq(config_set(&nc, "listen", "127.0.0.1:9", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_set(&nc, "db_path", "/elsewhere", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_set(&nc, "ring_slots", "8192", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_set(&nc, "log_file", "/tmp/x.log", err,
	    sizeof(err)), 0);
	ck_assert_int_eq(config_set(&nc, "workers", "9", err, sizeof(err)), 0);
	ck_assert_int_eq(config_set(&nc, "item_timeout_ms", "77", err,
	    sizeof(err)), 0);
	config_keep_restart(&nc, &old, note_key, seen);
	ck_assert_str_eq(seen, "listen db_path ring_slots log_file ");
	ck_assert_str_eq(nc.listen_host, "127.0.0.1");
	ck_assert_int_eq(nc.listen_port, 8080);
	ck_assert_str_eq(nc.db_path, "./data");
	ck_assert_int_eq(nc.ring_slots, 4096);
	ck_assert_str_eq(nc.log_file, "");
	ck_assert_int_eq(nc.workers, 9);
	ck_assert_int_eq(nc.item_timeout_ms, 77);

	/* Only the port differs: listen is still named. */
	seen[0] = '\0';
	config_defaults(&nc);
	nc.listen_port = 1;
	config_keep_restart(&nc, &old, note_key, seen);
	ck_assert_str_eq(seen, "listen ");
	ck_assert_int_eq(nc.listen_port, 8080);
	config_free(&nc);
	config_free(&old);
}
END_TEST

/* The level names are spelled once (log.c); the parser, the messages and
 * the documentation all take them from there. */
START_TEST(test_log_level_names)
{
	enum log_level	 l;
	char		 buf[64];

	ck_assert_str_eq(log_level_name(LOG_LEVEL_WARN), "warn");
	ck_assert_int_eq(log_level_parse("DEBUG", &l), 0);
	ck_assert_int_eq(l, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_level_parse("verbose", &l), -1);
	log_level_list(buf, sizeof(buf), ", ", " or ");
	ck_assert_str_eq(buf, "error, warn, info or debug");
	log_level_list(buf, sizeof(buf), "|", "|");
	ck_assert_str_eq(buf, "error|warn|info|debug");
}
END_TEST

START_TEST(test_dump_parses_to_defaults)
{
	struct config	 c, def;
	char		 path[64], err[ERRLEN], *text;
	size_t		 len;

	text = dump_text(&len);
	ck_assert_ptr_nonnull(strstr(text, "\nworkers = 4\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n#token = "));
	config_defaults(&def);
	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "listen", "[::1]:1", err,
	    sizeof(err)), 0);
	c.workers = 99;
	c.db_sync = 0;
	c.log_level = LOG_LEVEL_ERROR;
	strcpy(c.db_path, "/elsewhere");
	ck_assert_int_eq(load_text(&c, text, path, sizeof(path), err), 0);
	assert_same_keys(&c, &def);
	ck_assert_uint_eq(c.ntokens, 0);
	free(text);
	config_free(&c);
	config_free(&def);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("config");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_user_key);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_keys_not_in_file_keep_value);
	tcase_add_test(tc, test_dash_underscore);
	tcase_add_test(tc, test_set_errors);
	tcase_add_loop_test(tc, test_file_errors, 0,
	    (int)(sizeof(bad_files) / sizeof(bad_files[0])));
	tcase_add_loop_test(tc, test_token_errors, 0,
	    (int)(sizeof(bad_tokens) / sizeof(bad_tokens[0])));
	tcase_add_test(tc, test_db_path_too_long);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_comments_and_blank_lines);
	tcase_add_test(tc, test_listen_forms);
	tcase_add_test(tc, test_bool_and_log_level_words);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_copy_free);
	tcase_add_loop_test(tc, test_generated_files_are_dumps, 0,
	    (int)(sizeof(generated) / sizeof(generated[0])));
	tcase_add_test(tc, test_readme_keys_are_dump);
	tcase_add_test(tc, test_keep_restart);
	tcase_add_test(tc, test_log_level_names);
	tcase_add_test(tc, test_dump_parses_to_defaults);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(config_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
