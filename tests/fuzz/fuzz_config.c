/*
 * fuzz_config.c - the configuration file parser (common/config.c).
 *
 * Each input is a config file.  It is written to a memfd and loaded by
 * path (/proc/self/fd/N) over the defaults, then checked, copied and
 * freed, as a reload does.  Checks: an error names the file and a line;
 * a token line's error never quotes its secret; a copy holds the same
 * tokens as the original.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static int	fc_fd = -1;
static char	fc_path[64];

static void
fc_cleanup(void)
{
	close(fc_fd);
}

/* Replace the memfd's contents with data; libFuzzer runs inputs one after
 * another in one process, so one memfd serves them all. */
static void
fc_write(const uint8_t *data, size_t size)
{
	size_t	off = 0;
	ssize_t	n;

	if (fc_fd == -1) {
		FUZZ_CHECK((fc_fd = memfd_create("fuzz_config", 0)) != -1);
		snprintf(fc_path, sizeof(fc_path), "/proc/self/fd/%d", fc_fd);
		atexit(fc_cleanup);
	}
	FUZZ_CHECK(ftruncate(fc_fd, 0) == 0);
	while (off < size) {
		n = pwrite(fc_fd, data + off, size - off, (off_t)off);
		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
}

/*
 * If err reports a token line, its reason must not contain that line's
 * secret.  Only secrets of 12 bytes and more that appear in none of the
 * fixed token messages are looked for, so a short secret such as "token"
 * is not mistaken for one.
 */
static void
fc_check_secret(const uint8_t *data, size_t size, const char *err)
{
	static const char fixed[] = "token line: the secret has a control "
	    "character; expected SECRET WORKSPACE[,WORKSPACE...] or SECRET *; "
	    "out of memory; \"*\" must stand alone; workspace is not a valid "
	    "name ([A-Za-z0-9_-]{1,64}); duplicate secret (same as token )";
	const char	*p, *reason, *line, *end;
	char		 secret[256], key[16];
	long		 lineno, l;
	size_t		 i, n, kn;

	p = err + strlen(fc_path);
	if (strncmp(err, fc_path, strlen(fc_path)) != 0 || *p != ':')
		return;
	lineno = strtol(p + 1, (char **)&reason, 10);
	if (lineno < 1 || strncmp(reason, ": ", 2) != 0)
		return;
	reason += 2;
	line = (const char *)data;
	end = line + size;
	for (l = 1; l < lineno && line < end; l++) {
		if ((p = memchr(line, '\n', (size_t)(end - line))) == NULL)
			return;
		line = p + 1;
	}
	if ((p = memchr(line, '\n', (size_t)(end - line))) != NULL)
		end = p;
	/* "token = SECRET ...", with any spaces; '-' and '_' alike. */
	while (line < end && (*line == ' ' || *line == '\t'))
		line++;
	for (kn = 0; line < end && kn < sizeof(key) - 1 &&
	    *line != '=' && *line != ' ' && *line != '\t'; line++)
		key[kn++] = *line;
	key[kn] = '\0';
	if (strcmp(key, "token") != 0)
		return;
	while (line < end && (*line == ' ' || *line == '\t'))
		line++;
	if (line == end || *line++ != '=')
		return;
	while (line < end && (*line == ' ' || *line == '\t'))
		line++;
	for (n = 0; line + n < end && n < sizeof(secret) - 1 &&
	    line[n] != ' ' && line[n] != '\t' && line[n] != '\r' &&
	    line[n] != '\v' && line[n] != '\f' && line[n] != '#'; n++)
		secret[n] = line[n];
	secret[n] = '\0';
	for (i = 0; i < n; i++)
		if (secret[i] == '\0')
			return;
	if (n < 12 || strstr(fixed, secret) != NULL)
		return;
	if (strstr(reason, secret) != NULL) {
		fprintf(stderr, "secret \"%s\" in error \"%s\"\n", secret, err);
		FUZZ_CHECK(!"a token's secret appears in a config error");
	}
}

static void
fc_check_copy(const struct config *a, const struct config *b)
{
	size_t	i, j;

	FUZZ_CHECK(a->ntokens == b->ntokens);
	FUZZ_CHECK(a->workers == b->workers && a->listen_port == b->listen_port);
	FUZZ_CHECK(strcmp(a->listen_host, b->listen_host) == 0);
	FUZZ_CHECK(strcmp(a->db_path, b->db_path) == 0);
	for (i = 0; i < a->ntokens; i++) {
		FUZZ_CHECK(a->tokens[i].secret != b->tokens[i].secret);
		FUZZ_CHECK(strcmp(a->tokens[i].secret,
		    b->tokens[i].secret) == 0);
		FUZZ_CHECK(a->tokens[i].all == b->tokens[i].all);
		for (j = 0; a->tokens[i].workspaces[j] != NULL; j++) {
			FUZZ_CHECK(b->tokens[i].workspaces[j] != NULL);
			FUZZ_CHECK(strcmp(a->tokens[i].workspaces[j],
			    b->tokens[i].workspaces[j]) == 0);
		}
		FUZZ_CHECK(b->tokens[i].workspaces[j] == NULL);
		/* "*" stands alone; a list is never empty. */
		FUZZ_CHECK(a->tokens[i].all ? j == 0 : j > 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c, copy;
	char		 err[512];

	fc_write(data, size);
	config_defaults(&c);
	err[0] = '\0';
	if (config_load_file(&c, fc_path, err, sizeof(err)) == -1) {
		FUZZ_CHECK(strncmp(err, fc_path, strlen(fc_path)) == 0);
		fc_check_secret(data, size, err);
	}
	if (config_check(&c, err, sizeof(err)) == 0) {
		FUZZ_CHECK((long long)c.ring_slots * c.ring_slot_bytes >=
		    (long long)c.max_body_bytes);
	}
	FUZZ_CHECK(c.listen_port >= 0 && c.listen_port <= 65535);
	FUZZ_CHECK(c.workers >= 1 && c.workers <= 256);
	FUZZ_CHECK((c.ring_slots & (c.ring_slots - 1)) == 0);
	FUZZ_CHECK(c.ring_slot_bytes % 64 == 0);
	FUZZ_CHECK(config_copy(&copy, &c) == 0);
	fc_check_copy(&c, &copy);
	config_free(&copy);
	config_free(&c);
	FUZZ_CHECK(c.tokens == NULL && c.ntokens == 0);
	return 0;
}
