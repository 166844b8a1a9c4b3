/*
 * workers.c - threads kept for jobs that mostly wait; see workers.h.
 *
 * One lock guards the pool: the queue of jobs not yet taken, the count of
 * threads, and of those that will look at the queue before they wait
 * (idle ones, new ones not yet running, and ones whose job just ended).
 * workers_submit() queues the job and, when those are at least as many
 * as the jobs queued, wakes an idle thread; else it creates a thread
 * (detached; it takes jobs from the queue until it has been idle too
 * long). A thread whose job ended counts before its caller is told, so
 * a caller that submits one job after another keeps using one thread. Each job has its own lock and condition for its
 * caller's wait. workers_shutdown() sets stop, wakes every idle thread and
 * waits until the count is zero.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "dns_trace.h"
#include "log.h"
#include "util.h"
#include "workers.h"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work;        /* a job was queued, or stop */
static pthread_cond_t pool_gone;        /* a thread ended */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static struct worker_job *queue_head, *queue_tail;
static int queued, threads, idle, starting, returning, stopping;
static long created, jobs;

static void pool_init(void)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pool_work, &ca);
    pthread_cond_init(&pool_gone, &ca);
    pthread_condattr_destroy(&ca);
}

/* Take the next job; NULL when this thread should end. Called with the pool locked. */
static struct worker_job *pool_take(void)
{
    struct timespec ts;
    int rc;

    for (;;) {
        if (queue_head != NULL) {
            struct worker_job *j = queue_head;

            queue_head = j->next;
            if (queue_head == NULL)
                queue_tail = NULL;
            queued--;
            return j;
        }
        if (stopping)
            return NULL;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += WORKERS_IDLE_MS / 1000;
        ts.tv_nsec += (long) (WORKERS_IDLE_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        idle++;
        rc = pthread_cond_timedwait(&pool_work, &pool_lock, &ts);
        idle--;
        if (rc == ETIMEDOUT && queue_head == NULL && threads > WORKERS_KEEP)
            return NULL;
    }
}

static void *pool_thread(void *arg)
{
    struct worker_job *j;

    thread_name("rampart-work");
    (void) arg;
    pthread_mutex_lock(&pool_lock);
    starting--;
    while ((j = pool_take()) != NULL) {
        pthread_mutex_unlock(&pool_lock);
        dns_trace_set_thread_context(j->trace_context);
        j->fn(j->arg);
        dns_trace_set_thread_context(NULL);
        pthread_mutex_lock(&pool_lock);
        returning++;
        pthread_mutex_unlock(&pool_lock);
        pthread_mutex_lock(&j->lock);
        j->done = 1;
        pthread_cond_broadcast(&j->cond);
        /* After this unlock the job belongs to its caller again. */
        pthread_mutex_unlock(&j->lock);
        pthread_mutex_lock(&pool_lock);
        returning--;
    }
    threads--;
    pthread_cond_broadcast(&pool_gone);
    pthread_mutex_unlock(&pool_lock);
    return NULL;
}

int workers_submit(struct worker_job *job, void (*fn)(void *arg), void *arg)
{
    pthread_attr_t attr;
    pthread_t tid;
    int rc = 0;

    pthread_once(&pool_once, pool_init);
    memset(job, 0, sizeof(*job));
    job->fn = fn;
    job->arg = arg;
    job->trace_context = dns_trace_thread_context();
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->cond, NULL);

    pthread_mutex_lock(&pool_lock);
    if (queue_tail)
        queue_tail->next = job;
    else
        queue_head = job;
    queue_tail = job;
    queued++;
    jobs++;
    if (idle + starting + returning >= queued) {
        pthread_cond_signal(&pool_work);
    } else {
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&tid, &attr, pool_thread, NULL);
        pthread_attr_destroy(&attr);
        if (rc == 0) {
            threads++;
            starting++;
            created++;
        } else {
            /* Take the job back out: it is last in the queue, nobody took it
               (the lock is held), and no thread was there to take it. */
            struct worker_job **pp = &queue_head, *prev = NULL;

            while (*pp != job) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            *pp = NULL;
            queue_tail = prev;
            queued--;
            jobs--;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (rc != 0) {
        pthread_mutex_destroy(&job->lock);
        pthread_cond_destroy(&job->cond);
    }
    return rc;
}

void workers_wait(struct worker_job *job)
{
    pthread_mutex_lock(&job->lock);
    while (!job->done)
        pthread_cond_wait(&job->cond, &job->lock);
    pthread_mutex_unlock(&job->lock);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cond);
}

void workers_stats(struct workers_stats *st)
{
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool_lock);
    st->threads = threads;
    st->idle = idle;
    st->created = created;
    st->jobs = jobs;
    pthread_mutex_unlock(&pool_lock);
}

void workers_shutdown(void)
{
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool_lock);
    stopping = 1;
    pthread_cond_broadcast(&pool_work);
    while (threads > 0)
        pthread_cond_wait(&pool_gone, &pool_lock);
    stopping = 0;
    pthread_mutex_unlock(&pool_lock);
}
