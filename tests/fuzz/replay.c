/*
 * replay.c - run inputs through a harness without libFuzzer.
 *
 *   replay_<name> [-v] PATH...
 *
 * Each PATH is an input file or a directory whose regular files (sorted
 * by name, dot files skipped) are inputs.  Every input goes through
 * LLVMFuzzerTestOneInput() once, in this one process; a crash or a failed
 * check ends the process, so the caller learns which input it was by
 * replaying them one at a time (tests/fuzz/replay.sh does).  On success
 * prints the number of inputs run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int	replay_verbose;

/* Read the whole file; NULL with a message on failure. */
static uint8_t *
replay_read(const char *path, size_t *len)
{
	FILE	*f;
	uint8_t	*data = NULL, *p;
	size_t	 cap = 0, n = 0, got;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((p = realloc(data, cap)) == NULL) {
				fprintf(stderr, "replay: %s: out of memory\n",
				    path);
				free(data);
				fclose(f);
				return NULL;
			}
			data = p;
		}
		got = fread(data + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(data);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return data;
}

static int
replay_file(const char *path)
{
	uint8_t	*data;
	size_t	 len;

	if ((data = replay_read(path, &len)) == NULL)
		return -1;
	if (replay_verbose)
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	/* A copy of exactly len bytes, so ASan sees reads past the end. */
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int
replay_name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
replay_no_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Returns the number of inputs run, or -1. */
static long
replay_path(const char *path)
{
	struct dirent	**names;
	struct stat	  st;
	char		  file[4096];
	long		  count = 0;
	int		  n, i;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) == -1 ? -1 : 1;
	if ((n = scandir(path, &names, replay_no_dot, replay_name_cmp)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (count != -1 && stat(file, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (replay_file(file) == -1)
				count = -1;
			else
				count++;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	long	 total = 0, n;
	int	 i = 1;

	if (i < argc && strcmp(argv[i], "-v") == 0) {
		replay_verbose = 1;
		i++;
	}
	if (i == argc) {
		fprintf(stderr, "usage: %s [-v] PATH...\n", argv[0]);
		return 2;
	}
	for (; i < argc; i++) {
		if ((n = replay_path(argv[i])) == -1)
			return 1;
		total += n;
	}
	printf("%ld\n", total);
	return 0;
}
