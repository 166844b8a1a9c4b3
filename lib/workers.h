/*
 * workers.h - threads kept for jobs that mostly wait (an SPF evaluation
 * waits on DNS for most of its time).
 *
 * A job starts at once: on an idle thread of the pool if there is one,
 * else on a new thread; threads are never shared by two jobs at a time,
 * so a slow job never holds up another. A thread idle for
 * WORKERS_IDLE_MS ends, except the last WORKERS_KEEP. This saves creating
 * and ending a thread per job (its stack mapped and unmapped, the other
 * core interrupted to flush its TLB) when jobs come steadily.
 *
 * The job's memory belongs to the caller: workers_submit() sets it up,
 * workers_wait() returns when fn has returned and releases it.
 */
#ifndef RAMPART_WORKERS_H
#define RAMPART_WORKERS_H

#include <pthread.h>

#define WORKERS_IDLE_MS 30000
#define WORKERS_KEEP 4

struct worker_job {
    void (*fn)(void *arg);
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    const char *trace_context;  /* the submitter's dns_trace_thread_context() */
    struct worker_job *next;
};

/* Start fn(arg) on a pool thread; 0, or an errno value when no thread
   could be had (nothing started: the caller runs fn itself). */
int workers_submit(struct worker_job *job, void (*fn)(void *arg), void *arg);
/* Wait until the job's fn has returned. */
void workers_wait(struct worker_job *job);

struct workers_stats {
    int threads;        /* threads now */
    int idle;           /* of which waiting for a job */
    long created;       /* threads created so far */
    long jobs;          /* jobs started so far */
};
void workers_stats(struct workers_stats *st);

/* End every idle thread and wait for them (jobs in flight finish first);
   the pool can be used again afterwards. */
void workers_shutdown(void);

#endif
