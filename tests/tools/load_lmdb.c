/*
 * load_lmdb.c - load rows straight into a batchd store, without the server
 * (scripts/bench-query: a million rows in seconds, not a minute).
 *
 *   load_lmdb [-m map_size_mb] [-c rows_per_txn] [-x max_result_bytes] [-r]
 *             DBDIR WORKSPACE TABLE  < rows.jsonl
 *   load_lmdb [-m ...] [-c ...] [-x ...] -g N [-s seed] [-n now] [-d days]
 *             DBDIR WORKSPACE TABLE
 *   load_lmdb -p -g N [-s seed] [-n now] [-d days]
 *
 * Rows: one JSON object per line, {"key": "...", "value": {...}}, as
 * `scripts/gen-activity --format lines` prints them, from stdin; or, with
 * -g N, generated here: a C port of scripts/gen-activity (same splitmix64
 * draws in the same order, same fields in the same order), so that
 * `load_lmdb -p -g N -s S -n NOW` prints byte for byte what
 * `gen-activity --format lines -n N --seed S --now NOW` prints (-n takes
 * "YYYY-MM-DDThh:mm:ssZ" or "now"; defaults as gen-activity's: seed 1,
 * 2024-01-08T00:00:00Z, 7 days).  scripts/bench-query checks that
 * identity before it trusts the port.  -p prints instead of loading.
 * With -r, "value" is a string stored as the row's bytes verbatim, JSON
 * or not (the tests write a damaged row so: the API refuses one).
 * Each line (read or generated) becomes a
 * PUT of value under key, executed by the store's own code path: the value
 * is re-encoded as compact JSON exactly as the master encodes a request
 * body (json-c, PLAIN | NOSLASHESCAPE), and store_exec() runs the very
 * rows_put() a worker runs for PUT /workspaces/WS/tables/TABLE/rows/KEY.
 * So the catalog entry (table id from meta "next_table_id", row count),
 * the row keys and values and the "etag_seq" counter are exactly what the
 * API would have written (worker/store.h); only the order in which ETags
 * are handed out is the input order instead of the workers' interleaving.
 * Rows are committed rows_per_txn (default 10000) at a time, through
 * store_group_begin/store_group_end, with db_sync off.
 *
 * The server must not be running on DBDIR while it loads (LMDB would allow
 * it, but the point is an idle, freshly loaded store).  -m must not be
 * smaller than the server's db_map_size_mb for the same store.
 * Prints one JSON line: {"rows":N,"created":C,"replaced":R,"secs":S,
 * "rows_per_s":X}.  Exit 0 only if every row answered 200 or 201.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "item.h"
#include "store.h"

/* ---- the port of scripts/gen-activity ---------------------------------- */

static const char *const OPERATIONS[] = {
	"Microsoft.Compute/virtualMachines/write",
	"Microsoft.Compute/virtualMachines/delete",
	"Microsoft.Compute/virtualMachines/start/action",
	"Microsoft.Compute/virtualMachines/deallocate/action",
	"Microsoft.Storage/storageAccounts/write",
	"Microsoft.Storage/storageAccounts/listKeys/action",
	"Microsoft.Network/networkSecurityGroups/write",
	"Microsoft.Network/publicIPAddresses/delete",
	"Microsoft.KeyVault/vaults/secrets/read",
	"Microsoft.Web/sites/restart/action",
	"Microsoft.Sql/servers/databases/write",
	"Microsoft.Authorization/roleAssignments/write",
};
static const char *const RESOURCE_GROUPS[] = {
	"rg-prod-web", "rg-prod-data", "rg-prod-net", "rg-staging-web",
	"rg-staging-data", "rg-dev-sandbox", "rg-dev-ml", "rg-shared-kv",
};
static const char *const SUBSCRIPTIONS[] = {
	"0b1f6471-1bf0-4dda-aec3-111122223333",
	"5d2a9c1e-77aa-4c1b-9f00-444455556666",
	"9e8d7c6b-5a49-4382-b1a0-777788889999",
};
static const char *const REGIONS[] = {
	"eastus", "westeurope", "southeastasia", "uksouth",
};
static const char *const OK_CODES[] = { "OK", "Created", "Accepted" };
static const char *const FAIL_CODES[] = {
	"BadRequest", "Conflict", "InternalServerError",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

struct gen {
	uint64_t	 state;
	int64_t		 now_s;
	uint64_t	 span;
	long		 i, n;
};

static uint64_t
gen_next(struct gen *g)
{
	uint64_t	z;

	g->state += 0x9E3779B97F4A7C15ULL;
	z = g->state;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t
gen_below(struct gen *g, uint64_t n)
{
	return gen_next(g) % n;
}

/* Row g->i as gen-activity prints it: {"key":..,"value":{..}}. */
static int
gen_line(struct gen *g, char *out, size_t cap)
{
	char		 tbuf[32], prov[64];
	struct tm	 tm;
	time_t		 t;
	const char	*level, *op, *category, *rg, *sub, *code, *region;
	const char	*slash;
	uint64_t	 lv, cat, inner, caller, duration, c1, c2;
	int		 success, n;

	t = (time_t)(g->now_s - (int64_t)gen_below(g, g->span));
	gmtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	lv = gen_below(g, 100);
	level = lv < 5 ? "Error" : lv < 20 ? "Warning" : "Informational";
	op = OPERATIONS[gen_below(g, NELEM(OPERATIONS))];
	cat = gen_below(g, 100);
	category = cat < 85 ? "Administrative" : cat < 95 ? "Policy" :
	    "Security";
	inner = gen_below(g, 50);
	caller = gen_below(g, inner + 1);
	rg = RESOURCE_GROUPS[gen_below(g, NELEM(RESOURCE_GROUPS))];
	sub = SUBSCRIPTIONS[gen_below(g, NELEM(SUBSCRIPTIONS))];
	duration = 10 + gen_below(g, 200);
	if (gen_below(g, 10) == 0)
		duration += gen_below(g, 5000);
	if (lv < 5) {
		duration += 1000 + gen_below(g, 4000);
		success = 0;
	} else
		success = gen_below(g, 100) >= 2;
	code = success ? OK_CODES[gen_below(g, NELEM(OK_CODES))] :
	    FAIL_CODES[gen_below(g, NELEM(FAIL_CODES))];
	region = REGIONS[gen_below(g, NELEM(REGIONS))];
	c1 = gen_next(g);
	c2 = gen_next(g);
	slash = strchr(op, '/');
	snprintf(prov, sizeof(prov), "%.*s", (int)(slash - op), op);
	n = snprintf(out, cap,
	    "{\"key\":\"act-%08ld\",\"value\":{\"TimeGenerated\":\"%s\","
	    "\"Level\":\"%s\",\"OperationName\":\"%s\",\"Category\":\"%s\","
	    "\"Caller\":\"user%02" PRIu64 "@contoso.com\","
	    "\"ResourceGroup\":\"%s\",\"ResourceProvider\":\"%s\","
	    "\"SubscriptionId\":\"%s\",\"DurationMs\":%" PRIu64 ","
	    "\"Success\":%s,\"ActivityStatus\":\"%s\","
	    "\"CorrelationId\":\"%016" PRIx64 "%016" PRIx64 "\","
	    "\"Properties\":{\"statusCode\":\"%s\",\"region\":\"%s\"}}}",
	    g->i, tbuf, level, op, category, caller, rg, prov, sub, duration,
	    success ? "true" : "false", success ? "Succeeded" : "Failed",
	    c1, c2, code, region);
	g->i++;
	return n > 0 && (size_t)n < cap ? n : -1;
}

static int
parse_now(const char *s, int64_t *out)
{
	struct tm	 tm;
	char		*end;

	if (strcmp(s, "now") == 0) {
		*out = (int64_t)time(NULL);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || strcmp(end, "Z") != 0)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* ---- loading ------------------------------------------------------------ */

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: load_lmdb [-m map_size_mb] [-c rows_per_txn] "
	    "[-x max_result_bytes] [-r]\n"
	    "                 [-g N [-s seed] [-n now] [-d days]] "
	    "DBDIR WORKSPACE TABLE\n"
	    "       load_lmdb -p -g N [-s seed] [-n now] [-d days]\n");
	exit(2);
}

static long
num_arg(const char *s, const char *what, long min)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min) {
		fprintf(stderr, "load_lmdb: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct store_opts	 o;
	struct store		*st = NULL;
	struct item_req		 rq;
	struct item_res		 res;
	struct err		 e;
	struct gen		 g;
	json_tokener		*tok;
	char			 errbuf[512];
	char			*line = NULL;
	size_t			 cap = 0;
	ssize_t			 len;
	long			 map_mb = 4096, chunk = 10000, days = 7;
	long			 max_result = 8388608;	/* the config default */
	long			 n = 0, created = 0, replaced = 0, in_txn = 0;
	long			 gen_n = -1;
	int			 ch, rc = 0, print = 0, raw = 0;
	const char		*now_arg = "2024-01-08T00:00:00Z";
	double			 t0;

	memset(&g, 0, sizeof(g));
	g.state = 1;
	while ((ch = getopt(argc, argv, "m:c:x:g:s:n:d:pr")) != -1) {
		switch (ch) {
		case 'm':
			map_mb = num_arg(optarg, "map size", 1);
			break;
		case 'c':
			chunk = num_arg(optarg, "rows per transaction", 1);
			break;
		case 'x':
			max_result = num_arg(optarg, "max_result_bytes", 1);
			break;
		case 'g':
			gen_n = num_arg(optarg, "row count", 0);
			break;
		case 's':
			errno = 0;
			g.state = strtoull(optarg, NULL, 10);
			if (errno != 0) {
				fprintf(stderr, "load_lmdb: bad seed\n");
				return 2;
			}
			break;
		case 'n':
			now_arg = optarg;
			break;
		case 'd':
			days = num_arg(optarg, "days", 1);
			break;
		case 'p':
			print = 1;
			break;
		case 'r':
			raw = 1;
			break;
		default:
			usage();
		}
	}
	if (gen_n >= 0) {
		if (parse_now(now_arg, &g.now_s) == -1) {
			fprintf(stderr, "load_lmdb: -n: not "
			    "YYYY-MM-DDThh:mm:ssZ or now: %s\n", now_arg);
			return 2;
		}
		g.span = (uint64_t)days * 86400;
		g.n = gen_n;
	}
	if (print) {
		char	buf[2048];

		if (gen_n < 0 || argc != optind)
			usage();
		while (g.i < g.n) {
			if (gen_line(&g, buf, sizeof(buf)) == -1)
				return 1;
			puts(buf);
		}
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (argc - optind != 3)
		usage();

	memset(&o, 0, sizeof(o));
	o.path = argv[optind];
	o.map_size_mb = (size_t)map_mb;
	o.sync = 0;
	o.max_result_bytes = (size_t)max_result;
	if (store_open(&st, &o, errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "load_lmdb: %s\n", errbuf);
		return 1;
	}
	if ((tok = json_tokener_new()) == NULL ||
	    (gen_n >= 0 && (line = malloc(cap = 2048)) == NULL)) {
		fprintf(stderr, "load_lmdb: out of memory\n");
		return 1;
	}
	memset(&res, 0, sizeof(res));
	memset(&e, 0, sizeof(e));
	t0 = now_s();

	for (;;) {
		json_object	*obj, *key, *val;
		const char	*js;
		size_t		 jlen;

		if (gen_n >= 0) {
			if (g.i >= g.n)
				break;
			if ((len = gen_line(&g, line, cap)) == -1) {
				rc = 1;
				break;
			}
		} else if ((len = getline(&line, &cap, stdin)) == -1)
			break;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		/*
		 * Parse and re-encode the value, as the master does with a
		 * request body: what is stored is json-c's compact text.
		 */
		json_tokener_reset(tok);
		obj = json_tokener_parse_ex(tok, line, (int)len);
		if (obj == NULL ||
		    json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_object_get_ex(obj, "key", &key) ||
		    !json_object_is_type(key, json_type_string) ||
		    !json_object_object_get_ex(obj, "value", &val) ||
		    !json_object_is_type(val, raw ? json_type_string :
		    json_type_object)) {
			fprintf(stderr, "load_lmdb: line %ld: not {\"key\": "
			    "STRING, \"value\": %s}\n", n + 1,
			    raw ? "STRING" : "OBJECT");
			json_object_put(obj);
			rc = 1;
			break;
		}
		if (raw) {
			js = json_object_get_string(val);
			jlen = (size_t)json_object_get_string_len(val);
		} else
			js = json_object_to_json_string_length(val,
			    JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE, &jlen);
		if (in_txn == 0 && store_group_begin(st, &e) == -1) {
			fprintf(stderr, "load_lmdb: begin: %s\n", e.detail);
			json_object_put(obj);
			rc = 1;
			break;
		}
		/* PUT /workspaces/WS/tables/TABLE/rows/KEY, body val */
		memset(&rq, 0, sizeof(rq));
		rq.op = OP_ROW_PUT;
		rq.ws.p = argv[optind + 1];
		rq.ws.n = strlen(rq.ws.p);
		rq.table.p = argv[optind + 2];
		rq.table.n = strlen(rq.table.p);
		rq.key.p = json_object_get_string(key);
		rq.key.n = (size_t)json_object_get_string_len(key);
		rq.body_kind = BODY_OBJECT;
		rq.body = js;
		rq.body_len = jlen;
		item_res_reset(&res);
		if (store_exec(st, &rq, &res) == -1 ||
		    (res.status != 200 && res.status != 201)) {
			fprintf(stderr, "load_lmdb: line %ld (key %s): status "
			    "%d: %.*s\n", n + 1, rq.key.p, res.status,
			    (int)(res.body.len > 300 ? 300 : res.body.len),
			    res.body.data ? res.body.data : "");
			json_object_put(obj);
			rc = 1;
			break;
		}
		if (res.status == 201)
			created++;
		else
			replaced++;
		json_object_put(obj);
		n++;
		if (++in_txn == chunk) {
			in_txn = 0;
			if (store_group_end(st, 1, &e) == -1) {
				fprintf(stderr, "load_lmdb: commit: %s\n",
				    e.detail);
				rc = 1;
				break;
			}
		}
	}
	if (in_txn > 0) {
		/* commit what is complete; roll back after a failure */
		if (store_group_end(st, rc == 0, &e) == -1 && rc == 0) {
			fprintf(stderr, "load_lmdb: commit: %s\n", e.detail);
			rc = 1;
		}
	}
	if (rc == 0 && gen_n < 0 && ferror(stdin)) {
		fprintf(stderr, "load_lmdb: reading stdin: %s\n",
		    strerror(errno));
		rc = 1;
	}
	if (rc == 0) {
		double	secs = now_s() - t0;

		printf("{\"rows\":%ld,\"created\":%ld,\"replaced\":%ld,"
		    "\"secs\":%.3f,\"rows_per_s\":%.0f}\n", n, created,
		    replaced, secs, secs > 0 ? (double)n / secs : 0.0);
	}
	free(line);
	item_res_free(&res);
	json_tokener_free(tok);
	store_close(st);
	return rc;
}
