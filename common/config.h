/*
 * config.h - batchd configuration: one table of keys.
 *
 * Every key is a row of the table in config.c (name, type, default, min,
 * max, flags, doc).  The file parser, the "--key value" command-line
 * overrides, "-t", reload (which keys SIGHUP keeps: config_keep_restart),
 * and "--dump-config" in its three forms (the documented sample
 * etc/batchd.conf, the man page etc/batchd.conf.5, the README's table of
 * keys) all come from that one table.
 */
#ifndef BATCHD_CONFIG_H
#define BATCHD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "log.h"


/*
 * Room the ring and a completion ring need beyond the largest body (an
 * item's envelope: method, path, headers; an answer's ETag, Location and
 * JSON around a row).  config_check() holds the ring to it; the master
 * sizes each completion ring as max_result_bytes + this.
 */
#define CONFIG_ITEM_SLACK	65536

struct config_token {
	char	 *secret;
	char	**workspaces;	/* NULL-terminated; empty when all */
	int	  all;		/* "*": every workspace */
};

struct config {
	char		 listen_host[256];	/* listen = HOST:PORT */
	int		 listen_port;		/* 0: any free port */
	long		 workers;
	char		 db_path[4096];
	long		 db_map_size_mb;
	int		 db_sync;		/* on|off */
	long		 write_group_max_items;	/* group commit: items */
	long		 write_group_max_bytes;	/* group commit: bytes */
	long		 ring_slots;
	long		 ring_slot_bytes;
	long		 max_batch_items;
	long		 max_async_items;
	long		 max_body_bytes;
	long		 max_result_bytes;
	long		 max_pending_items;
	long		 max_connections;	/* 0: from RLIMIT_NOFILE */
	long		 max_header_bytes;
	long		 header_timeout_ms;
	long		 body_timeout_ms;
	long		 keepalive_timeout_ms;
	long		 send_timeout_ms;
	long		 linger_ms;
	long		 accept_backoff_ms;
	long		 max_conn_output_bytes;
	long		 max_batch_inflight;
	long		 max_response_bytes;
	long		 async_buffer_bytes;
	char		 tls_cert_file[4096];	/* "": plain HTTP */
	char		 tls_key_file[4096];
	long		 item_timeout_ms;
	long		 item_timeout_max_ms;	/* cap of Prefer: wait=N */
	long		 quarantine_cooldown_ms; /* 0: no quarantine */
	long		 quarantine_cooldown_max_ms;
	long		 quarantine_max_entries;
	long		 worker_memory_mb;	/* 0: unlimited */
	long		 worker_max_items;	/* 0: never recycle */
	long		 worker_spin_us;	/* idle watch before sleeping */
	long		 master_spin_us;	/* the master's, likewise */
	long		 query_max_rows_scanned;
	long		 query_max_result_rows;
	long		 query_parallel_rows;	/* split above; 0: never */
	long		 query_parallel_parts;	/* 0: workers */
	long		 query_max_workspaces;	/* body "workspaces" length */
	long		 async_result_ttl_s;
	int		 debug_ops;		/* on|off */
	char		 user[64];		/* "" or a user to run as */
	enum log_level	 log_level;		/* error|warn|info|debug */
	char		 log_file[4096];	/* "": standard error */
	struct config_token *tokens;
	size_t		 ntokens;
};

/* Fill every key with its default. */
void	config_defaults(struct config *);
/*
 * Read "key = value" lines from path into c (keys not in the file keep
 * their value).  On error returns -1 and writes "FILE:LINE: reason" to err.
 */
int	config_load_file(struct config *, const char *path, char *err,
	    size_t errlen);
/* Set one key from text (file lines and --key overrides; '-' and '_' are
 * the same in key names).  -1 with a reason in err. */
int	config_set(struct config *, const char *key, const char *value,
	    char *err, size_t errlen);
/* Checks across keys (e.g. the ring must hold max_body_bytes). */
int	config_check(const struct config *, char *err, size_t errlen);
/* Is key a known key (after '-' -> '_')? */
int	config_known(const char *key);
/* Deep copy (for reload: parse into a new struct, swap on success). */
int	config_copy(struct config *dst, const struct config *src);
void	config_free(struct config *);
/* Write the documented sample config (every key, its default, its doc). */
void	config_dump(FILE *);
/* The README's table of keys, in Markdown. */
void	config_dump_markdown(FILE *);
/* The batchd.conf(5) man page, in mdoc(7). */
void	config_dump_man(FILE *);
/*
 * Reload: put back in nc the running value (from old) of every key that
 * changes only on restart, and tell note() each one that differed.
 */
void	config_keep_restart(struct config *nc, const struct config *old,
	    void (*note)(const char *key, void *arg), void *arg);

#endif
