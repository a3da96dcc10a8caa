/*
 * bench_ring.c - the IPC ceiling for scripts/bench: round trips through
 * batchd's own work ring and completion rings, with no HTTP, no JSON and no
 * store on the path.
 *
 *   bench_ring [-w workers] [-b burst] [-s seconds] [-l item_bytes]
 *              [-c completion_bytes] [-n ring_slots] [-z slot_bytes]
 *              [-p spin_us]
 *
 * The parent plays the master: per burst it takes data slots
 * (ring_data_alloc), writes an item (ring_data_write), publishes its
 * descriptor (ring_publish), then wakes sleepers once (ring_wake); it then
 * drains completion records (wslot_peek / wslot_copy / wslot_consume) until
 * the whole burst is back, sleeping on the eventfd with the master_armed
 * protocol of shm.h when none is waiting.  Forked children play workers
 * exactly as worker/worker.c does: ring_worker_init, ring_claim, when the
 * ring is empty ring_spin for spin_us (worker_spin_us, default 20) and then
 * ring_sleep, ring_data_read, wslot_push of a small completion,
 * held_pos cleared, eventfd written only if the master was armed.
 *
 * Prints one JSON line:
 *   {"workers":1,"burst":64,"spin_us":20,"items":N,"secs":S,
 *    "items_per_s":R,"ns_per_item":X,"us_per_burst":Y,"master_wakeups":W,
 *    "bad":0}
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "futex.h"
#include "ring.h"
#include "shm.h"
#include "wslot.h"

#define MAX_WORKERS	64

static pid_t	 master_pid;
static uint64_t	 spin_ns = 20 * 1000;	/* worker_spin_us's default */
static volatile sig_atomic_t stop;	/* SIGINT / SIGTERM: finish cleanly */

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
master_alive(void)
{
	return getppid() == master_pid;
}

static void
worker(struct ring *r, struct wslot *me, int efd, uint32_t comp_bytes)
{
	struct ring_desc	 d;
	struct comp_rec		 rec;
	struct buf		 scratch = BUF_INIT;
	const char		*p;
	char			 body[4096];
	uint64_t		 sum;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!master_alive())
		_exit(3);
	ring_worker_init(r);
	memset(body, 'x', sizeof(body));
	atomic_store(&me->state, WS_IDLE);
	for (;;) {
		if (atomic_load(&r->hdr->shutdown))
			break;
		if (!ring_claim(r, me, me->index, &d)) {
			atomic_store(&me->state, WS_IDLE);
			if (spin_ns > 0 && ring_spin(r, spin_ns))
				continue;
			ring_sleep(r, 1000);
			if (!master_alive())
				_exit(3);
			continue;
		}
		atomic_store(&me->state, WS_BUSY);
		sum = 0;
		if ((p = ring_data_read(r, &d, &scratch)) != NULL) {
			/* Touch the item as a decoder would. */
			for (uint32_t i = 0; i < d.len; i += 64)
				sum += (unsigned char)p[i];
		}
		memset(&rec, 0, sizeof(rec));
		rec.batch_id = d.batch_id;
		rec.item_idx = d.item_idx;
		rec.first_slot = d.first_slot;
		rec.status = p != NULL ? 200 : 500;
		rec.body_len = comp_bytes;
		memcpy(body, &sum, sizeof(sum));
		if (wslot_push(me, &rec, "", "", body, efd, master_alive) == -1)
			_exit(4);
		wslot_release(me);
		atomic_fetch_add(&me->items_done, 1);
		if (atomic_exchange(&r->hdr->master_armed, 0))
			eventfd_write(efd, 1);
	}
	atomic_store(&me->state, WS_EXITING);
	buf_free(&scratch);
	_exit(0);
}

struct master {
	struct ring	 r;
	struct wslot	*ws[MAX_WORKERS];
	int		 nw;
	int		 efd;
	uint32_t	*first;		/* per in-burst item: its first slot */
	uint32_t	*nslots;
	uint64_t	 bad;
	uint64_t	 wakeups;
	char		 copy[4096];
};

static int
drain(struct master *m, uint64_t burst_base, uint32_t burst)
{
	struct comp_rec	 rec;
	uint64_t	 pos;
	int		 i, rv, n = 0;

	for (i = 0; i < m->nw; i++) {
		while ((rv = wslot_peek(m->ws[i], &rec, &pos)) == 1) {
			uint64_t k = rec.batch_id - burst_base;

			if (rec.batch_id < burst_base || k >= burst ||
			    rec.item_idx != (uint32_t)k ||
			    rec.first_slot != m->first[k] || rec.status != 200)
				m->bad++;
			else {
				size_t len = rec.body_len < sizeof(m->copy) ?
				    rec.body_len : sizeof(m->copy);

				wslot_copy(m->ws[i], pos + rec.etag_len +
				    rec.loc_len, m->copy, len);
				ring_data_free(&m->r, m->first[k],
				    m->nslots[k]);
			}
			wslot_consume(m->ws[i], &rec);
			n++;
		}
		if (rv == -1) {
			fprintf(stderr, "bench_ring: corrupt completion ring\n");
			exit(1);
		}
	}
	return n;
}

static int
any_pending(const struct master *m)
{
	int i;

	for (i = 0; i < m->nw; i++)
		if (wslot_pending(m->ws[i]) > 0)
			return 1;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_ring [-w workers] [-b burst] "
	    "[-s seconds] [-l item_bytes] [-c completion_bytes] "
	    "[-n ring_slots] [-z slot_bytes] [-p spin_us]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct master	 m;
	struct ring_desc d;
	struct pollfd	 pfd;
	eventfd_t	 v;
	pid_t		 pids[MAX_WORKERS];
	char		 err[256], *item;
	double		 secs = 1.0, el;
	uint64_t	 seq = 0, t0, end, ns;
	uint32_t	 burst = 1, item_bytes = 100, comp_bytes = 200;
	uint32_t	 slots = 4096, slot_bytes = 4096, i, got;
	int		 c, k, rc, status, failed = 0;

	memset(&m, 0, sizeof(m));
	m.nw = 1;
	while ((c = getopt(argc, argv, "w:b:s:l:c:n:z:p:")) != -1) {
		switch (c) {
		case 'w': m.nw = atoi(optarg); break;
		case 'b': burst = (uint32_t)atoi(optarg); break;
		case 's': secs = atof(optarg); break;
		case 'l': item_bytes = (uint32_t)atoi(optarg); break;
		case 'c': comp_bytes = (uint32_t)atoi(optarg); break;
		case 'n': slots = (uint32_t)atoi(optarg); break;
		case 'z': slot_bytes = (uint32_t)atoi(optarg); break;
		case 'p': spin_ns = strtoull(optarg, NULL, 10) * 1000; break;
		default: usage();
		}
	}
	if (optind != argc || m.nw < 1 || m.nw > MAX_WORKERS || burst < 1 ||
	    burst > slots || secs <= 0 || comp_bytes > sizeof(m.copy) ||
	    item_bytes > slot_bytes)
		usage();

	if (ring_create(&m.r, slots, slot_bytes, err, sizeof(err)) == -1) {
		fprintf(stderr, "bench_ring: %s\n", err);
		return 1;
	}
	m.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m.first = calloc(burst, sizeof(*m.first));
	m.nslots = calloc(burst, sizeof(*m.nslots));
	item = malloc(item_bytes + 1);
	if (m.efd == -1 || m.first == NULL || m.nslots == NULL ||
	    item == NULL) {
		fprintf(stderr, "bench_ring: %s\n", strerror(errno));
		ring_destroy(&m.r);
		return 1;
	}
	memset(item, 'i', item_bytes + 1);
	master_pid = getpid();
	/* Stopped early, still remove the shared-memory object. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	atomic_store(&m.r.hdr->master_armed, 1);
	for (k = 0; k < m.nw; k++) {
		/* The size batchd's master gives a slot area (max_result_bytes
		 * default 8 MiB + 64 KiB): the same ring, the same wrap-around. */
		if ((m.ws[k] = wslot_create((uint32_t)k,
		    (size_t)8388608 + 65536)) == NULL) {
			fprintf(stderr, "bench_ring: wslot_create failed\n");
			return 1;
		}
		wslot_reset(m.ws[k]);
	}
	for (k = 0; k < m.nw; k++) {
		m.ws[k]->pid = pids[k] = fork();
		if (pids[k] == -1) {
			fprintf(stderr, "bench_ring: fork: %s\n",
			    strerror(errno));
			return 1;
		}
		if (pids[k] == 0) {
			signal(SIGINT, SIG_IGN);	/* the master stops us */
			signal(SIGTERM, SIG_DFL);
			worker(&m.r, m.ws[k], m.efd, comp_bytes);
		}
	}
	/* Let every worker reach its first sleep. */
	for (k = 0; k < m.nw; k++)
		while (atomic_load(&m.ws[k]->state) != WS_IDLE)
			usleep(1000);
	usleep(10000);

	pfd.fd = m.efd;
	pfd.events = POLLIN;
	t0 = mono_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	do {
		for (i = 0; i < burst; i++) {
			if (ring_data_alloc(&m.r, item_bytes, &m.first[i],
			    &m.nslots[i]) == -1) {
				fprintf(stderr, "bench_ring: data slots "
				    "exhausted\n");
				failed = 1;
				goto out;
			}
			ring_data_write(&m.r, m.first[i], item, item_bytes);
			d.batch_id = seq + i;
			d.item_idx = i;
			d.first_slot = m.first[i];
			d.nslots = m.nslots[i];
			d.len = item_bytes;
			if (ring_publish(&m.r, &d) == -1) {
				fprintf(stderr, "bench_ring: ring full\n");
				failed = 1;
				goto out;
			}
		}
		ring_wake(&m.r, (int)burst);
		got = 0;
		while (got < burst) {
			if ((rc = drain(&m, seq, burst)) > 0) {
				got += (uint32_t)rc;
				continue;
			}
			/* As the master's event loop: arm, look once more,
			 * sleep on the eventfd. */
			atomic_store(&m.r.hdr->master_armed, 1);
			if (any_pending(&m)) {
				atomic_store(&m.r.hdr->master_armed, 0);
				continue;
			}
			rc = poll(&pfd, 1, 1000);
			atomic_store(&m.r.hdr->master_armed, 0);
			if (rc == 1) {
				eventfd_read(m.efd, &v);
				m.wakeups++;
			} else if (rc == 0) {
				fprintf(stderr, "bench_ring: stalled\n");
				failed = 1;
				goto out;
			}
		}
		seq += burst;
	} while (mono_ns() < end && !stop);
out:
	ns = mono_ns() - t0;
	el = (double)ns / 1e9;
	atomic_store(&m.r.hdr->shutdown, 1);
	ring_wake(&m.r, INT32_MAX);
	for (k = 0; k < m.nw; k++) {
		if (failed)
			kill(pids[k], SIGKILL);
		if (waitpid(pids[k], &status, 0) != pids[k] ||
		    (!failed && (!WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)))
			failed = 1;
	}
	for (k = 0; k < m.nw; k++)
		wslot_destroy(m.ws[k]);
	ring_destroy(&m.r);
	close(m.efd);
	free(m.first);
	free(m.nslots);
	free(item);
	if (failed || seq == 0)
		return 1;
	printf("{\"workers\":%d,\"burst\":%u,\"spin_us\":%llu,\"items\":%llu,"
	    "\"secs\":%.3f,\"items_per_s\":%.0f,\"ns_per_item\":%.1f,"
	    "\"us_per_burst\":%.2f,\"master_wakeups\":%llu,\"bad\":%llu}\n",
	    m.nw, burst, (unsigned long long)(spin_ns / 1000),
	    (unsigned long long)seq, el, (double)seq / el,
	    (double)ns / (double)seq, (double)ns / 1e3 / ((double)seq / burst),
	    (unsigned long long)m.wakeups, (unsigned long long)m.bad);
	return m.bad != 0;
}
