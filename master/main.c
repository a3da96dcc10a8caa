/*
 * main.c - command line: -c FILE, -t, --key value / --key=value overrides,
 * --dump-config[=conf|markdown|man].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "master.h"

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan maps terabytes of shadow memory, so a sanitizer build cannot give
 * workers an RLIMIT_AS.  Instead an allocation over 256 MiB fails (returns
 * NULL) as it would under the limit, so out-of-memory handling is still
 * exercised by the same tests.  The quarantine of freed memory is kept to
 * 32 MiB so the master's footprint stays comparable to a normal build.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=256:"
	    "quarantine_size_mb=32";
}
#endif

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: batchd [-c FILE] [-t] [--KEY VALUE | --KEY=VALUE ...]\n"
	    "       batchd --dump-config[=conf|markdown|man]\n"
	    "  -c FILE        configuration file (default etc/batchd.conf)\n"
	    "  -t             check the configuration and exit\n"
	    "  --KEY VALUE    set any config key, overriding the file\n"
	    "                 ('-' and '_' alike: --item-timeout-ms 100)\n"
	    "  --dump-config  print a documented sample configuration (conf),\n"
	    "                 the README's table of keys (markdown) or\n"
	    "                 batchd.conf(5) (man), all from one table\n");
}

/*
 * Apply the --key overrides in argv[0..argc) to c.  Also used on SIGHUP,
 * so the command line keeps winning over the reloaded file.
 */
int
main_apply_overrides(struct config *c, int argc, char **argv, char *err,
    size_t errlen)
{
	char	 key[128];
	const char *arg, *eq, *val;
	int	 i;

	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (strncmp(arg, "--", 2) != 0)
			continue;
		arg += 2;
		if ((eq = strchr(arg, '=')) != NULL) {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
			val = eq + 1;
		} else {
			snprintf(key, sizeof(key), "%s", arg);
			if (i + 1 >= argc) {
				snprintf(err, errlen, "--%s: missing value", key);
				return -1;
			}
			val = argv[++i];
		}
		if (config_set(c, key, val, err, errlen) == -1)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct master	*m;
	char		 err[512];
	const char	*conf = "etc/batchd.conf";
	int		 i, rc = 0, test = 0, nover = 0, conf_given = 0;
	ssize_t		 n;
	char		**over;

	m = calloc(1, sizeof(*m));
	over = calloc((size_t)argc + 1, sizeof(char *));
	if (m == NULL || over == NULL) {
		fprintf(stderr, "batchd: out of memory\n");
		rc = 1;
		goto out;
	}
	config_defaults(&m->cfg);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf = argv[++i];
			conf_given = 1;
		} else if (strcmp(argv[i], "-t") == 0) {
			test = 1;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			goto out;
		} else if (strcmp(argv[i], "--dump-config") == 0 ||
		    strcmp(argv[i], "--dump-config=conf") == 0) {
			config_dump(stdout);
			goto out;
		} else if (strcmp(argv[i], "--dump-config=markdown") == 0) {
			config_dump_markdown(stdout);
			goto out;
		} else if (strcmp(argv[i], "--dump-config=man") == 0) {
			config_dump_man(stdout);
			goto out;
		} else if (strncmp(argv[i], "--", 2) == 0) {
			over[nover++] = argv[i];
			if (strchr(argv[i], '=') == NULL && i + 1 < argc)
				over[nover++] = argv[++i];
		} else {
			fprintf(stderr, "batchd: unknown argument: %s\n",
			    argv[i]);
			usage(stderr);
			rc = 2;
			goto out;
		}
	}
	if (conf_given || access(conf, R_OK) == 0) {
		if (config_load_file(&m->cfg, conf, err, sizeof(err)) == -1) {
			fprintf(stderr, "batchd: %s\n", err);
			rc = 1;
			goto out;
		}
		m->conf_path = conf;
	}
	if (main_apply_overrides(&m->cfg, nover, over, err, sizeof(err)) == -1 ||
	    config_check(&m->cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "batchd: %s\n", err);
		rc = 1;
		goto out;
	}
	if (test) {
		printf("batchd: configuration %s is ok\n",
		    m->conf_path ? m->conf_path : "(defaults)");
		goto out;
	}
	if (log_open(m->cfg.log_file, err, sizeof(err)) == -1) {
		fprintf(stderr, "batchd: %s\n", err);
		rc = 1;
		goto out;
	}
	m->argc = nover;
	m->argv = over;
	m->args = argv;
	/* SIGUSR2 starts whatever binary is at this path by then. */
	if ((n = readlink("/proc/self/exe", m->exe, sizeof(m->exe) - 1)) > 0)
		m->exe[n] = '\0';
	rc = server_run(m);	/* frees what it was given */
	free(m);
	return rc;
out:
	if (m != NULL)
		config_free(&m->cfg);
	free(m);
	free(over);
	return rc;
}
