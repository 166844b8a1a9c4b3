/*
 * av-bench.c - scan throughput of lib/av on synthetic mail.
 *
 * Usage: av-bench [-d dbdir] [-n scans] [-t threads] [-s message_kb] [-a attachment_kb]
 *                 [-c] [-x] [-f] [-T tmpdir]
 *
 * Builds one message of about message_kb KiB (default 1024): a text part
 * filling it up, plus a base64 attachment of attachment_kb KiB (default 200)
 * of random bytes, and scans it n times per thread (default 50) with the
 * clean-file cache off (-c keeps it on). -x starts the message with a
 * header libclamav does not know (the scan then reads through a callback
 * with a synthetic first line); -f passes each message through a struct
 * av_buffer that spills to a temporary file at once. Prints MB/s of mail
 * and ms per message (per thread). -T sets the temporary directory (libclamav's
 * extracted parts and spilled messages). The database directory defaults to /var/lib/clamav; build a
 * small one with tests/av/make-db.sh.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "av.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "util.h"

static str message = STR_INIT;
static int scans_per_thread = 50;
static int failures;
static int odd_first_header;
static int spill;

/* CPU time of the whole process, ms: unlike wall time, not inflated by other load. */
static double cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

static void build_message(size_t total_kb, size_t attach_kb)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char *const words[] = { "mail ", "filter ", "scanner ", "message ", "postfix ",
                                         "the ", "of ", "and ", "attachment ", "rampart " };
    uint32_t x = 2463534242U;
    size_t i, col = 0, attach = attach_kb * 1024;
    ssize_t target = (ssize_t) (total_kb * 1024);

    str_adds(&message, odd_first_header ? "X-Mailer: av-bench\r\n"
                                        : "Received: from mx.example.org by mx.example.net; "
                                          "Mon, 1 Jan 2024 00:00:00 +0000\r\n");
    str_adds(&message, "From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: bench\r\n"
                       "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
                       "--BB\r\nContent-Type: application/octet-stream\r\n"
                       "Content-Transfer-Encoding: base64\r\n"
                       "Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n");
    for (i = 0; i < attach; i += 3) {
        uint32_t v;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v = x & 0xffffff;
        str_addc(&message, tab[(v >> 18) & 63]);
        str_addc(&message, tab[(v >> 12) & 63]);
        str_addc(&message, tab[(v >> 6) & 63]);
        str_addc(&message, tab[v & 63]);
        if ((col += 4) >= 76) {
            str_adds(&message, "\r\n");
            col = 0;
        }
    }
    str_adds(&message, "\r\n--BB\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
    col = 0;
    while (message.len < target - 16) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        str_adds(&message, words[x % NELEM(words)]);
        if (++col == 12) {
            str_adds(&message, "\r\n");
            col = 0;
        }
    }
    str_adds(&message, "\r\n--BB--\r\n");
}

static void *worker(void *arg)
{
    struct av_report r;
    int i;

    (void) arg;
    av_report_init(&r);
    for (i = 0; i < scans_per_thread; i++) {
        enum av_result res;

        if (spill) {
            struct av_buffer b;

            av_buffer_init(&b);
            av_buffer_add(&b, message.data, message.len);
            res = av_scan_buffer(&b, &r);
            av_buffer_free(&b);
        } else {
            res = av_scan_mem(message.data, message.len, &r);
        }
        if (res != AV_CLEAN) {
            fprintf(stderr, "av-bench: %s %s\n", av_result_name(r.result), str_cstr(&r.detail));
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        }
    }
    av_report_free(&r);
    return NULL;
}

int main(int argc, char **argv)
{
    struct av_options o;
    struct av_engine_info info;
    const char *db = AV_DEFAULT_DATABASE_DIR, *tmpdir = NULL;
    int threads = 1, cache = 0, c, i;
    size_t total_kb = 1024, attach_kb = 200;
    pthread_t *tids;
    int64_t t0, t1;
    double secs, mb, c0, cpu;

    while ((c = getopt(argc, argv, "d:n:t:s:a:cxfT:")) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'n': scans_per_thread = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 's': total_kb = (size_t) atol(optarg); break;
        case 'a': attach_kb = (size_t) atol(optarg); break;
        case 'c': cache = 1; break;
        case 'x': odd_first_header = 1; break;
        case 'f': spill = 1; break;
        case 'T': tmpdir = optarg; break;
        default:
            fprintf(stderr, "usage: av-bench [-d dbdir] [-n scans] [-t threads] [-s message_kb] "
                            "[-a attachment_kb] [-c] [-x] [-f] [-T tmpdir]\n");
            return 2;
        }
    }
    if (threads < 1 || scans_per_thread < 1)
        return 2;
    log_open_stderr("av-bench");
    log_set_level(LOG_LVL_WARNING);
    av_options_defaults(&o);
    o.database_dir = db;
    o.disable_cache = !cache;
    o.temp_dir = tmpdir;
    if (spill)
        o.spill_threshold = 0;
    t0 = clock_now_ms();
    if (av_init(&o) < 0)
        return 1;
    t1 = clock_now_ms();
    av_engine_info(&info);
    if (!info.loaded) {
        fprintf(stderr, "av-bench: no database in %s\n", db);
        return 1;
    }
    build_message(total_kb, attach_kb);
    printf("libclamav %s, %u signatures, loaded in %lld ms; message %zd bytes (%zu KiB attachment); "
           "%d thread(s) x %d scans; cache %s%s%s\n",
           info.version, info.signatures, (long long) (t1 - t0), message.len, attach_kb, threads,
           scans_per_thread, cache ? "on" : "off", odd_first_header ? "; unknown first header" : "",
           spill ? "; spilled to a file" : "");

    worker(NULL);   /* warm up */
    tids = mem_alloc((ssize_t) sizeof(*tids) * threads);
    t0 = clock_now_ms();
    c0 = cpu_ms();
    for (i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, worker, NULL);
    for (i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    t1 = clock_now_ms();
    cpu = cpu_ms() - c0;
    secs = (double) (t1 - t0) / 1000.0;
    mb = (double) message.len * threads * scans_per_thread / 1e6;
    printf("%.1f MB/s, %.2f ms per message, %.0f messages/s; CPU: %.2f ms per message, "
           "%.1f MB per CPU second%s\n", mb / secs, secs * 1000.0 / scans_per_thread,
           threads * scans_per_thread / secs, cpu / (threads * scans_per_thread),
           mb / (cpu / 1000.0), failures ? " (FAILURES)" : "");
    mem_free(tids);
    str_free(&message);
    av_shutdown();
    return failures ? 1 : 0;
}
