/*
 * pipeline-bench.c - rampart's core without Postfix: how fast messages go
 * through the pipeline from memory (lib/txn.h, the calls the milter makes),
 * with each check alone and all together, beside the cost of the work
 * underneath done alone: libopendkim verifying the same message, the
 * signature crypto and hashing (libcrypto), the SPF engine on cached DNS,
 * libclamav scanning the same message (lib/av).
 *
 * Usage: pipeline-bench [-d DBDIR] [-n N] [-t THREADS] [-q]
 *
 *   -d  signature database directory (tests/av/make-db.sh builds a small
 *       one); without it the scanner is left out
 *   -n  messages per measurement (default 400; the 200 KiB attachment kind
 *       gets N/10, at least 20)
 *   -t  also run the whole pipeline on the mix in THREADS threads at once
 *       (default 2; 1 = not)
 *   -q  only check that everything runs (for the smoke test): no table
 *
 * The mail is the benchmark's (bench/lib/mkmail.py): "rsa" and "ed" are
 * small messages signed rsa-sha256 (2048-bit key) and ed25519-sha256,
 * "att" carries a 200 KiB attachment (rsa-sha256), "plain" is unsigned;
 * the mix is 7 rsa, 5 ed, 2 att, 6 plain in 20. Every message is different
 * (so libclamav's clean-file cache never answers), made and signed with
 * libopendkim at start-up with keys made then. DNS answers come from the
 * in-memory fixture (lib/dns.h), which stands for a warm cache: the figures
 * are the CPU the checks cost, not DNS waiting; the last two rows put
 * libunbound (local data, no network) under every check, first with the
 * answers rampart keeps in front of it, then with none kept, where every
 * lookup goes through libunbound on the resolver's thread as a name never
 * asked before does.
 * The configuration is
 * rampart's defaults plus authserv_id, the database and dnsbl_sites =
 * bl.test; a check is left out with its *_mode = off (parameters this
 * build does not have are skipped).
 *
 * Prints CPU microseconds per message (CLOCK_PROCESS_CPUTIME_ID) and the
 * messages per second that makes on one core. Exits 1 if a message of the
 * full configuration was not accepted or a verification failed.
 */
#include "config.h"

#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <opendkim/dkim.h>

#include "av.h"
#include "core.h"
#include "dns.h"
#include "dns_unbound.h"
#include "log.h"
#include "mem.h"
#include "rconfig.h"
#include "spf.h"
#include "str.h"
#include "txn.h"
#include "util.h"

enum kind { K_RSA, K_ED, K_ATT, K_PLAIN, K_COUNT };
static const char *const kind_name[K_COUNT] = { "rsa", "ed", "att", "plain" };
/* The benchmark's cycle of 20: 7 rsa, 5 ed, 2 att, 6 plain, interleaved. */
static enum kind mix_kind(int i)
{
    static const enum kind base[20] = { K_RSA, K_RSA, K_RSA, K_RSA, K_RSA, K_RSA, K_RSA, K_ED, K_ED, K_ED,
                                        K_ED, K_ED, K_ATT, K_ATT, K_PLAIN, K_PLAIN, K_PLAIN, K_PLAIN, K_PLAIN,
                                        K_PLAIN };

    return base[(i % 20) * 7 % 20];
}

#define BENCH_DOMAIN "bench.example"
#define BENCH_CLIENT "192.0.2.21"
#define BENCH_HELO "mx1.bench.example"
#define BENCH_SENDER "sender@bench.example"
#define ATTACH_BYTES (200 * 1024)
#define MILTER_CHUNK 65535        /* Postfix sends the body in pieces of at most this */

struct message {
    char *data;
    size_t len;
    size_t body_off;              /* first byte of the body */
};

/* Messages of one kind: `slices` runs of `per` different messages each, so
   that threads running at once, and runs one after another with a fresh
   scanner engine, never scan the same bytes twice in one engine. */
struct pool {
    struct message *m;
    int per, n, next;
};

static struct pool pools[K_COUNT];
static int n_msgs = 400;
static int slices = 1;
static const char *db_dir;
static int quiet;
static EVP_PKEY *rsa_key, *ed_key;
static char *rsa_pem, *ed_pem;
static str rsa_record = STR_INIT, ed_record = STR_INIT;
static DKIM_LIB *dkim_lib;
static uint32_t rng_state = 2463534242U;
static int failures;
static int saved_stderr = -1;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static double cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

/* Context switches of the whole process so far (all threads). */
static long switches(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

static double wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

/* While timing, the summary line of each message is made as in rampartd
   (log level info) and goes nowhere; otherwise only warnings are shown. */
static void quiet_stderr(int on)
{
    log_set_level(on ? LOG_LVL_INFO : LOG_LVL_WARNING);
    if (on) {
        int fd = open("/dev/null", O_WRONLY);

        fflush(stderr);
        saved_stderr = dup(2);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
    } else if (saved_stderr >= 0) {
        fflush(stderr);
        dup2(saved_stderr, 2);
        close(saved_stderr);
        saved_stderr = -1;
    }
}

/*
 * Under LeakSanitizer: libopendkim 2.11 does not free the private key it
 * loads for an Ed25519 signature (dkim_free() releases RSA signing keys
 * only). This program signs its test mail with it; rampart itself only
 * verifies. The slow unwinder is needed to see that function under
 * libcrypto's frames, which have no frame pointers.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:dkim_privkey_load\n";
}

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

/* ---------------------------------------------------------------- keys and mail */

static char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p, *out;
    long n;

    if (b == NULL || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
        log_fatal("cannot write a private key");
    n = BIO_get_mem_data(b, &p);
    out = mem_alloc((size_t) n + 1);
    memcpy(out, p, (size_t) n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

static void base64_add(str *s, const unsigned char *data, int len)
{
    char *b = mem_alloc((size_t) (4 * ((len + 2) / 3) + 1));
    int n = EVP_EncodeBlock((unsigned char *) b, data, len);

    str_add(s, b, n);
    mem_free(b);
}

static void make_keys(void)
{
    EVP_PKEY_CTX *c;
    unsigned char *der = NULL, raw[32];
    size_t rawlen = sizeof(raw);
    int n;

    c = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    if (c == NULL || EVP_PKEY_keygen_init(c) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) <= 0
        || EVP_PKEY_keygen(c, &rsa_key) <= 0)
        log_fatal("cannot make an RSA key");
    EVP_PKEY_CTX_free(c);
    c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (c == NULL || EVP_PKEY_keygen_init(c) <= 0 || EVP_PKEY_keygen(c, &ed_key) <= 0)
        log_fatal("cannot make an Ed25519 key");
    EVP_PKEY_CTX_free(c);
    rsa_pem = pem_of(rsa_key);
    ed_pem = pem_of(ed_key);
    /* RFC 6376: p= is the SubjectPublicKeyInfo; RFC 8463: the raw 32 bytes. */
    if ((n = i2d_PUBKEY(rsa_key, &der)) <= 0)
        log_fatal("cannot encode the RSA public key");
    str_adds(&rsa_record, "v=DKIM1; k=rsa; p=");
    base64_add(&rsa_record, der, n);
    OPENSSL_free(der);
    if (EVP_PKEY_get_raw_public_key(ed_key, raw, &rawlen) <= 0)
        log_fatal("cannot get the Ed25519 public key");
    str_adds(&ed_record, "v=DKIM1; k=ed25519; p=");
    base64_add(&ed_record, raw, (int) rawlen);
}

static void add_words(str *s, int words)
{
    static const char *const w[] = { "the", "mail", "filter", "checks", "every", "message", "that",
                                     "arrives", "at", "border", "of", "network", "before", "it",
                                     "reaches", "a", "mailbox", "and", "does", "so", "quickly",
                                     "with", "care", "nobody", "waits", "for" };
    int col = 0;

    for (int i = 0; i < words; i++) {
        const char *x = w[rnd() % NELEM(w)];

        str_adds(s, x);
        col += (int) strlen(x) + 1;
        if (col > 66) {
            str_adds(s, "\r\n");
            col = 0;
        } else {
            str_addc(s, ' ');
        }
    }
    str_adds(s, "\r\n");
}

/* Header fields of a message as libopendkim takes them: "Name: value", folds kept, no final CRLF. */
static void each_field(const char *data, size_t body_off, void (*fn)(const char *f, size_t len, void *arg),
                       void *arg)
{
    size_t i = 0, end = body_off >= 2 ? body_off - 2 : 0;

    while (i < end) {
        size_t j = i;

        for (;;) {
            const char *nl = memchr(data + j, '\n', end - j);

            if (nl == NULL) {
                j = end;
                break;
            }
            j = (size_t) (nl - data) + 1;
            if (j >= end || (data[j] != ' ' && data[j] != '\t'))
                break;
        }
        /* [i, j) is one field with its CRLF */
        fn(data + i, j - i - (j - i >= 2 && data[j - 2] == '\r' ? 2 : 1), arg);
        i = j;
    }
}

static void sign_field(const char *f, size_t len, void *arg)
{
    if (dkim_header((DKIM *) arg, (u_char *) f, len) != DKIM_STAT_OK)
        log_fatal("dkim_header failed while signing");
}

/* One message of a kind; signed if the kind says so. */
static void make_message(struct message *m, enum kind k, int idx)
{
    str h = STR_INIT, b = STR_INIT, out = STR_INIT;
    DKIM_STAT st;

    str_addf(&h, "Received: from " BENCH_HELO " (" BENCH_HELO " [" BENCH_CLIENT "])\r\n"
                 "\tby relay.bench.example with ESMTPS id B%d\r\n\tfor <bob@rcpt.example>; "
                 "Mon, 6 Jan 2025 10:00:00 +0000\r\n", idx);
    str_addf(&h, "From: Sender <" BENCH_SENDER ">\r\nTo: Bob <bob@rcpt.example>\r\n"
                 "Subject: benchmark message %d (%s)\r\nDate: Mon, 6 Jan 2025 10:00:00 +0000\r\n"
                 "Message-ID: <%s.%d.%u@" BENCH_DOMAIN ">\r\nMIME-Version: 1.0\r\n",
             idx, kind_name[k], kind_name[k], idx, rnd());
    if (k == K_ATT) {
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        int col = 0;

        str_addf(&h, "Content-Type: multipart/mixed; boundary=\"=-bench-%d\"\r\n", idx);
        str_addf(&b, "This is a multi-part message in MIME format.\r\n\r\n--=-bench-%d\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n\r\nHello Bob,\r\n\r\n", idx);
        add_words(&b, 220);
        str_addf(&b, "\r\n--=-bench-%d\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Transfer-Encoding: base64\r\n"
                     "Content-Disposition: attachment; filename=\"report-%d.bin\"\r\n\r\n", idx, idx);
        for (int i = 0; i < ATTACH_BYTES; i += 3) {
            uint32_t v = rnd() & 0xffffff;

            str_addc(&b, tab[(v >> 18) & 63]);
            str_addc(&b, tab[(v >> 12) & 63]);
            str_addc(&b, tab[(v >> 6) & 63]);
            str_addc(&b, tab[v & 63]);
            if ((col += 4) >= 76) {
                str_adds(&b, "\r\n");
                col = 0;
            }
        }
        str_addf(&b, "\r\n--=-bench-%d--\r\n", idx);
    } else {
        str_adds(&h, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n");
        str_adds(&b, "Hello Bob,\r\n\r\n");
        add_words(&b, 120);
        str_adds(&b, "\r\n");
        add_words(&b, 100);
        str_adds(&b, "\r\n-- \r\nSender\r\n");
    }
    str_adds(&h, "\r\n");
    if (k != K_PLAIN) {
        const int ed = k == K_ED;
        DKIM *d = dkim_sign(dkim_lib, (const u_char *) "bench", NULL, (dkim_sigkey_t) (ed ? ed_pem : rsa_pem),
                            (const u_char *) (ed ? "ed25519" : "rsa2048"), (const u_char *) BENCH_DOMAIN,
                            DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
                            ed ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
        u_char *sig;
        size_t siglen;

        if (d == NULL)
            log_fatal("dkim_sign: %s", dkim_getresultstr(st));
        each_field(h.data, (size_t) h.len, sign_field, d);
        if (dkim_eoh(d) != DKIM_STAT_OK || dkim_body(d, (u_char *) b.data, (size_t) b.len) != DKIM_STAT_OK
            || dkim_eom(d, NULL) != DKIM_STAT_OK
            || dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &sig, &siglen) != DKIM_STAT_OK)
            log_fatal("signing failed");
        str_adds(&out, "DKIM-Signature: ");
        /* libopendkim folds with LF alone; the wire has CRLF. */
        for (size_t i = 0; i < siglen; i++) {
            if (sig[i] == '\n' && (i == 0 || sig[i - 1] != '\r'))
                str_addc(&out, '\r');
            str_addc(&out, (char) sig[i]);
        }
        str_adds(&out, "\r\n");
        dkim_free(d);
    }
    str_add(&out, h.data, h.len);
    m->body_off = (size_t) out.len;
    str_add(&out, b.data, b.len);
    m->len = (size_t) out.len;
    m->data = mem_alloc(m->len + 1);
    memcpy(m->data, out.data, m->len);
    m->data[m->len] = '\0';
    str_free(&h);
    str_free(&b);
    str_free(&out);
}

static void make_pools(void)
{
    for (int k = 0; k < K_COUNT; k++) {
        int per = k == K_ATT ? (n_msgs / 10 > 20 ? n_msgs / 10 : 20) : n_msgs;

        pools[k].per = per;
        pools[k].n = per * slices;
        pools[k].m = mem_zalloc((size_t) pools[k].n * sizeof(struct message));
        for (int i = 0; i < pools[k].n; i++)
            make_message(&pools[k].m[i], (enum kind) k, k * 100000 + i);
    }
}

/* The next message of a kind in slice 0. */
static const struct message *next_message(enum kind k)
{
    struct pool *p = &pools[k];

    return &p->m[p->next++ % p->per];
}

static void rewind_pools(void)
{
    for (int k = 0; k < K_COUNT; k++)
        pools[k].next = 0;
}

/* ---------------------------------------------------------------- the pipeline */

struct feed {
    struct txn *t;
    str value;
};

/* A field as the milter passes it: name, and the value after the colon with
   its leading space, folds as LF + WSP (Postfix drops the CR). */
static void feed_field(const char *f, size_t len, void *arg)
{
    struct feed *fd = arg;
    const char *colon = memchr(f, ':', len);
    char name[256];
    size_t nl;

    if (colon == NULL || (nl = (size_t) (colon - f)) >= sizeof(name))
        return;
    memcpy(name, f, nl);
    name[nl] = '\0';
    str_reset(&fd->value);
    for (const char *p = colon + 1; p < f + len; p++)
        if (*p != '\r')
            str_addc(&fd->value, *p);
    txn_header(fd->t, name, fd->value.data ? fd->value.data : "", fd->value.len);
}

/* One message through the pipeline as one SMTP session; 1 if accepted. */
static int pipeline_one(const struct message *m)
{
    struct txn t;
    struct feed fd = { &t, STR_INIT };
    int64_t t0 = clock_now_ms();
    int ok;

    txn_init(&t);
    txn_set_client(&t, BENCH_CLIENT, BENCH_HELO);
    txn_set_helo(&t, BENCH_HELO);
    txn_mail(&t, "<" BENCH_SENDER ">", NULL);
    txn_rcpt(&t, "<bob@rcpt.example>");
    each_field(m->data, m->body_off, feed_field, &fd);
    txn_eoh(&t);
    for (size_t off = m->body_off; off < m->len; off += MILTER_CHUNK) {
        size_t n = m->len - off < MILTER_CHUNK ? m->len - off : MILTER_CHUNK;

        txn_body(&t, (const unsigned char *) m->data + off, (ssize_t) n);
    }
    txn_eom(&t);
    ok = t.verdict.action == VERDICT_ACCEPT;
    txn_log(&t, clock_now_ms() - t0);
    txn_reset_message(&t);
    txn_free(&t);
    str_free(&fd.value);
    return ok;
}

/* Build the configuration with the given checks on and install the core on r. */
static void use_checks(const char *on, struct dns_resolver *r)
{
    static const char *const checks[] = { "limits", "dnsbl", "spf", "dkim", "dmarc", "av" };
    char path[] = "/tmp/pipeline-bench-XXXXXX";
    str text = STR_INIT, err = STR_INIT, name = STR_INIT;
    struct config *c;
    int fd;

    str_adds(&text, "authserv_id = mx.lab.example\n");
    for (int i = 0; i < config_param_count(); i++) {
        const char *p = config_param_name(i);

        if (strcmp(p, "dnsbl_sites") == 0)
            str_adds(&text, "dnsbl_sites = bl.test\n");
        if (strcmp(p, "av_database_dir") == 0 && db_dir)
            str_addf(&text, "av_database_dir = %s\n", db_dir);
        if (strcmp(p, "av_temp_dir") == 0)
            str_adds(&text, "av_temp_dir = /tmp\n");
    }
    for (size_t i = 0; i < NELEM(checks); i++) {
        int exists = 0, wanted;

        str_reset(&name);
        str_addf(&name, "%s_mode", checks[i]);
        for (int j = 0; j < config_param_count(); j++)
            if (strcmp(config_param_name(j), name.data) == 0)
                exists = 1;
        /* "all" turns on every check; "x,y" those; the scanner needs a database. */
        wanted = strcmp(on, "all") == 0 || strstr(on, checks[i]) != NULL;
        if (strcmp(checks[i], "av") == 0 && db_dir == NULL)
            wanted = 0;
        if (exists && !wanted)
            str_addf(&text, "%s = off\n", name.data);
    }
    fd = mkstemp(path);
    if (fd < 0 || write(fd, text.data, (size_t) text.len) != text.len)
        log_fatal("cannot write %s", path);
    close(fd);
    core_shutdown();
    if (config_reload(path, NULL, 0, &err) != 0)
        log_fatal("configuration: %s", str_cstr(&err));
    unlink(path);
    c = config_current();
    if (core_init_with_resolver(c, r, &err) != 0)
        log_fatal("core: %s", str_cstr(&err));
    config_unref(c);
    str_free(&text);
    str_free(&err);
    str_free(&name);
}

static int kind_count(enum kind k)
{
    return pools[k].per;
}

static double last_switches;    /* per message, of the last run_pipeline */

/* CPU us per message through the pipeline for one kind (K_COUNT: the mix). */
static double run_pipeline(int kind, int *refused)
{
    int n = kind == K_COUNT ? n_msgs : kind_count((enum kind) kind);
    double c0;
    long s0;

    rewind_pools();
    quiet_stderr(1);
    s0 = switches();
    c0 = cpu_us();
    for (int i = 0; i < n; i++)
        if (!pipeline_one(next_message(kind == K_COUNT ? mix_kind(i) : (enum kind) kind)))
            (*refused)++;
    c0 = cpu_us() - c0;
    last_switches = (double) (switches() - s0) / n;
    quiet_stderr(0);
    return c0 / n;
}

struct thread_arg {
    int slice, refused;
};

static void *pipeline_thread(void *p)
{
    struct thread_arg *a = p;
    int next[K_COUNT] = { 0 };

    for (int i = 0; i < n_msgs; i++) {
        enum kind k = mix_kind(i);
        struct pool *pl = &pools[k];

        if (!pipeline_one(&pl->m[a->slice * pl->per + next[k]++ % pl->per]))
            a->refused++;
    }
    return NULL;
}

/* Messages per second (wall) of the mix in nthreads threads at once. */
static double run_threads(int nthreads, int *refused)
{
    pthread_t tid[64];
    struct thread_arg args[64];
    double w0;

    if (nthreads > slices)
        nthreads = slices;
    quiet_stderr(1);
    w0 = wall_us();
    for (int i = 0; i < nthreads; i++) {
        args[i].slice = i;
        args[i].refused = 0;
        if (pthread_create(&tid[i], NULL, pipeline_thread, &args[i]) != 0)
            log_fatal("cannot start a thread");
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        *refused += args[i].refused;
    }
    w0 = wall_us() - w0;
    quiet_stderr(0);
    return (double) nthreads * n_msgs * 1e6 / w0;
}

/* ---------------------------------------------------------------- alone */

static DKIM_CBSTAT key_lookup(DKIM *d, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    const char *sel = (const char *) dkim_sig_getselector(sig);
    const str *rec = sel && strcmp(sel, "ed25519") == 0 ? &ed_record : &rsa_record;

    (void) d;
    if ((size_t) rec->len + 1 > buflen)
        return DKIM_CBSTAT_ERROR;
    memcpy(buf, rec->data, (size_t) rec->len + 1);
    return DKIM_CBSTAT_CONTINUE;
}

static void verify_field(const char *f, size_t len, void *arg)
{
    dkim_header((DKIM *) arg, (u_char *) f, len);
}

/* libopendkim alone: verify every message of a kind; CPU us per message.
   fixcrlf: with DKIM_LIBFLAGS_FIXCRLF, as dkim_startup(1) sets it (for
   bodies with bare LF; rampartd's is dkim_startup(0), without). */
static double run_libopendkim(enum kind k, int fixcrlf)
{
    int n = kind_count(k);
    DKIM_LIB *lib = dkim_lib;
    double c0;

    if (fixcrlf) {
        uint32_t flags = DKIM_LIBFLAGS_FIXCRLF;

        if ((lib = dkim_init(NULL, NULL)) == NULL)
            log_fatal("dkim_init failed");
        dkim_set_key_lookup(lib, key_lookup);
        dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
    }
    c0 = cpu_us();
    for (int i = 0; i < n; i++) {
        const struct message *m = &pools[k].m[i];
        DKIM_STAT st;
        DKIM *d = dkim_verify(lib, (const u_char *) "bench", NULL, &st);

        if (d == NULL)
            log_fatal("dkim_verify: %s", dkim_getresultstr(st));
        each_field(m->data, m->body_off, verify_field, d);
        dkim_eoh(d);
        dkim_body(d, (u_char *) m->data + m->body_off, m->len - m->body_off);
        st = dkim_eom(d, NULL);
        if (st != DKIM_STAT_OK) {
            if (failures++ == 0)
                fprintf(stderr, "pipeline-bench: libopendkim: %s message: %s\n", kind_name[k],
                        dkim_getresultstr(st));
        }
        dkim_free(d);
    }
    c0 = cpu_us() - c0;
    if (lib != dkim_lib)
        dkim_close(lib);
    return c0 / n;
}

/* One signature verification, hashing included; CPU us each. */
static double run_verify(EVP_PKEY *k, const EVP_MD *md, size_t datalen)
{
    unsigned char data[1024], sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int n = n_msgs * 2;
    double c0;

    memset(data, 'h', sizeof(data));
    if (EVP_DigestSignInit(c, NULL, md, NULL, k) <= 0 || EVP_DigestSign(c, sig, &siglen, data, datalen) <= 0)
        log_fatal("cannot sign");
    c0 = cpu_us();
    for (int i = 0; i < n; i++) {
        EVP_MD_CTX_reset(c);
        if (EVP_DigestVerifyInit(c, NULL, md, NULL, k) <= 0 || EVP_DigestVerify(c, sig, siglen, data, datalen) != 1)
            failures++;
    }
    c0 = cpu_us() - c0;
    EVP_MD_CTX_free(c);
    return c0 / n;
}

/* SHA-256 of the body of every message of a kind; CPU us per message. */
static double run_sha256(enum kind k)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen;
    int n = kind_count(k);
    double c0 = cpu_us();

    for (int i = 0; i < n; i++) {
        const struct message *m = &pools[k].m[i];

        EVP_Digest(m->data + m->body_off, m->len - m->body_off, md, &mdlen, EVP_sha256(), NULL);
    }
    return (cpu_us() - c0) / n;
}

/* The SPF engine on cached DNS: MAIL FROM and HELO checks; CPU us per pair. */
static double run_spf(struct dns_resolver *r)
{
    struct spf_request req;
    struct spf_result res;
    int n = n_msgs;
    double c0;

    memset(&req, 0, sizeof(req));
    spf_request_set_ip(&req, BENCH_CLIENT);
    req.helo = BENCH_HELO;
    req.mail_from = BENCH_SENDER;
    req.receiver = "mx.lab.example";
    c0 = cpu_us();
    for (int i = 0; i < n; i++) {
        memset(&res, 0, sizeof(res));
        if (spf_check_mailfrom(r, &req, NULL, &res) != SPF_STATUS_PASS)
            failures++;
        spf_result_free(&res);
        memset(&res, 0, sizeof(res));
        spf_check_helo(r, &req, NULL, &res);
        spf_result_free(&res);
    }
    return (cpu_us() - c0) / n;
}

/* lib/av alone: scan every message of a kind; CPU us per message. */
static double run_scan(enum kind k)
{
    struct av_report rep;
    int n = kind_count(k);
    double c0;

    av_report_init(&rep);
    c0 = cpu_us();
    for (int i = 0; i < n; i++) {
        const struct message *m = &pools[k].m[i];

        if (av_scan_mem(m->data, (ssize_t) m->len, &rep) != AV_CLEAN && failures++ == 0)
            fprintf(stderr, "pipeline-bench: scan of a %s message: %s\n", kind_name[k],
                    av_result_name(rep.result));
    }
    c0 = cpu_us() - c0;
    av_report_free(&rep);
    return c0 / n;
}

/* ---------------------------------------------------------------- main */

static void fill_fixture(struct dns_resolver *r)
{
    dns_fixture_add(r, BENCH_DOMAIN, DNS_T_TXT, "v=spf1 ip4:192.0.2.0/24 -all");
    dns_fixture_add(r, BENCH_DOMAIN, DNS_T_MX, "10 mx.lab.example");
    dns_fixture_add(r, BENCH_HELO, DNS_T_TXT, "v=spf1 ip4:192.0.2.0/24 -all");
    dns_fixture_add(r, BENCH_HELO, DNS_T_A, BENCH_CLIENT);
    dns_fixture_add(r, "_dmarc." BENCH_DOMAIN, DNS_T_TXT, "v=DMARC1; p=reject");
    dns_fixture_add_txt(r, "rsa2048._domainkey." BENCH_DOMAIN, rsa_record.data, rsa_record.len);
    dns_fixture_add_txt(r, "ed25519._domainkey." BENCH_DOMAIN, ed_record.data, ed_record.len);
}

/* A TXT record in zone-file form, split into quoted strings of 250 bytes. */
static char *ub_txt(const char *name, const char *text)
{
    str s = STR_INIT;
    size_t len = strlen(text);

    str_addf(&s, "%s. 3600 IN TXT", name);
    for (size_t i = 0; i < len; i += 250)
        str_addf(&s, " \"%.*s\"", (int) (len - i < 250 ? len - i : 250), text + i);
    return str_steal(&s);
}

/* The real resolver (libunbound) answering the same records from local
   data: every name is local, nothing goes to the network. With
   nothing_kept, rampart keeps no answers in front of libunbound, so every
   lookup goes through libunbound on the resolver's thread as a name never
   asked before does (less the network). */
static struct dns_resolver *unbound_resolver(int nothing_kept)
{
    /* test. too: rampart makes it transparent (for the site's resolver), and the DNS list is bl.test. */
    static const char *const zones[] = { ". static", "test. static" };
    /* Nothing listens there: a name not in the data must not reach this machine's resolver. */
    static const char *const nowhere[] = { "127.0.0.1@1" };
    char *data[10];
    struct dns_unbound_config uc;
    struct dns_resolver *r;
    str err = STR_INIT;
    int n = 0;

    /* Negative answers (the DNS list's) carry the SOA's TTL, as from any real zone. */
    data[n++] = mem_strdup(". 3600 IN SOA ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 300");
    data[n++] = mem_strdup("test. 3600 IN SOA ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 300");
    data[n++] = ub_txt(BENCH_DOMAIN, "v=spf1 ip4:192.0.2.0/24 -all");
    data[n++] = mem_strdup(BENCH_DOMAIN ". 3600 IN MX 10 mx.lab.example.");
    data[n++] = ub_txt(BENCH_HELO, "v=spf1 ip4:192.0.2.0/24 -all");
    data[n++] = mem_strdup(BENCH_HELO ". 3600 IN A " BENCH_CLIENT);
    data[n++] = ub_txt("_dmarc." BENCH_DOMAIN, "v=DMARC1; p=reject");
    data[n++] = ub_txt("rsa2048._domainkey." BENCH_DOMAIN, rsa_record.data);
    data[n++] = ub_txt("ed25519._domainkey." BENCH_DOMAIN, ed_record.data);
    memset(&uc, 0, sizeof(uc));
    uc.local_zones = zones;
    uc.n_local_zones = (int) NELEM(zones);
    uc.forwarders = nowhere;
    uc.n_forwarders = 1;
    uc.local_data = (const char *const *) data;
    uc.n_local_data = n;
    uc.no_kept_answers = nothing_kept;
    if ((r = dns_unbound_new(&uc, &err)) == NULL)
        log_fatal("libunbound: %s", str_cstr(&err));
    for (int i = 0; i < n; i++)
        mem_free(data[i]);
    str_free(&err);
    return r;
}

static void print_row(const char *label, const double us[K_COUNT + 1])
{
    printf("  %-22s", label);
    for (int k = 0; k <= K_COUNT; k++)
        printf(" %8.0f", us[k]);
    printf(" %9.0f %8.1f\n", us[K_COUNT] > 0 ? 1e6 / us[K_COUNT] : 0.0, last_switches);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *label, *on;
    } variants[] = {
        { "no check", "none" }, { "spf", "spf" }, { "dkim", "dkim" }, { "dmarc", "dmarc" },
        { "dnsbl", "dnsbl" },   { "av", "av" },   { "all (as rampartd)", "all" },
    };
    struct dns_resolver *r;
    int opt, threads = 2, refused_all = 0;
    double us[K_COUNT + 1];

    while ((opt = getopt(argc, argv, "d:n:t:q")) != -1) {
        switch (opt) {
        case 'd': db_dir = optarg; break;
        case 'n': n_msgs = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'q': quiet = 1; break;
        default:
            fprintf(stderr, "usage: pipeline-bench [-d DBDIR] [-n N] [-t THREADS] [-q]\n");
            return 2;
        }
    }
    if (n_msgs < 20)
        n_msgs = 20;
    slices = threads > 1 ? (threads > 64 ? 64 : threads) : 1;
    log_open_stderr("pipeline-bench");
    log_set_level(LOG_LVL_WARNING);
    if ((dkim_lib = dkim_init(NULL, NULL)) == NULL)
        log_fatal("dkim_init failed");
    dkim_set_key_lookup(dkim_lib, key_lookup);
    make_keys();
    make_pools();
    r = dns_fixture_new();
    fill_fixture(r);

    if (!quiet) {
        printf("pipeline-bench: rampart's core without Postfix; one thread; DNS answers from memory\n");
        printf("messages: rsa %zu B, ed %zu B, att %zu B, plain %zu B; %d of each (att %d), all different\n",
               pools[K_RSA].m[0].len, pools[K_ED].m[0].len, pools[K_ATT].m[0].len, pools[K_PLAIN].m[0].len,
               n_msgs, pools[K_ATT].n);
        printf("\nthe pipeline (lib/txn.h, MAIL FROM to end of message, the log line included),\n"
               "CPU microseconds per message (\"mix cs\": context switches per message of the mix):\n\n");
        printf("  %-22s %8s %8s %8s %8s %8s %9s %8s\n", "checks", "rsa", "ed", "att", "plain", "mix",
               "mix msg/s", "mix cs");
    }
    for (size_t v = 0; v <= NELEM(variants) + 1; v++) {
        /* The last rows: every check, on libunbound instead of the fixture, with and
           without the answers rampart keeps in front of it. */
        struct dns_resolver *rv = v < NELEM(variants) ? r : unbound_resolver(v > NELEM(variants));
        const char *on = v < NELEM(variants) ? variants[v].on : "all";
        int refused = 0;

        use_checks(on, rv);
        for (int k = 0; k < K_COUNT; k++)
            us[k] = run_pipeline(k, &refused);
        /* A fresh scanner engine, so that the mix is not served by its cache. */
        use_checks(on, rv);
        us[K_COUNT] = run_pipeline(K_COUNT, &refused);
        if (strcmp(on, "all") == 0)
            refused_all += refused;
        if (!quiet)
            print_row(v < NELEM(variants) ? variants[v].label
                      : v == NELEM(variants) ? "all, DNS by libunbound" : "libunbound, none kept", us);
        if (rv != r) {
            core_shutdown();
            dns_resolver_free(rv);
        }
    }
    if (threads > 1) {
        int refused = 0;
        double one, many;

        use_checks("all", r);
        one = run_threads(1, &refused);
        use_checks("all", r);
        many = run_threads(threads, &refused);
        if (!quiet)
            printf("\n  all checks, the mix, wall clock: 1 thread %.0f msg/s, %d threads %.0f msg/s (x%.2f)\n",
                   one, threads, many, many / one);
        refused_all += refused;
    }
    core_shutdown();

    if (!quiet) {
        printf("\nthe same work alone, CPU microseconds:\n\n");
        printf("  libopendkim verify, whole message (key from memory): rsa %.0f, ed %.0f, att %.0f\n",
               run_libopendkim(K_RSA, 0), run_libopendkim(K_ED, 0), run_libopendkim(K_ATT, 0));
        printf("    the same with DKIM_LIBFLAGS_FIXCRLF (dkim_startup(1), not rampartd): rsa %.0f, ed %.0f, att %.0f\n",
               run_libopendkim(K_RSA, 1), run_libopendkim(K_ED, 1), run_libopendkim(K_ATT, 1));
        printf("  RSA-2048 verify of 500 bytes (SHA-256 + signature): %.1f\n",
               run_verify(rsa_key, EVP_sha256(), 500));
        printf("  Ed25519 verify of a 32-byte hash: %.1f\n", run_verify(ed_key, NULL, 32));
        printf("  SHA-256 of the body: small %.1f, att %.0f\n", run_sha256(K_RSA), run_sha256(K_ATT));
        printf("  SPF, MAIL FROM and HELO (rampart engine, answers from memory): %.1f\n", run_spf(r));
    } else {
        run_libopendkim(K_RSA, 0);
        run_libopendkim(K_ED, 1);
        run_spf(r);
    }
    if (db_dir) {
        struct av_options o;

        av_options_defaults(&o);
        o.database_dir = db_dir;
        o.temp_dir = "/tmp";
        if (av_init(&o) != 0)
            log_fatal("cannot start the scanner on %s", db_dir);
        if (!quiet)
            printf("  libclamav scan of the whole message (lib/av, from memory): rsa %.0f, plain %.0f, att %.0f\n",
                   run_scan(K_RSA), run_scan(K_PLAIN), run_scan(K_ATT));
        else
            run_scan(K_PLAIN);
        av_shutdown();
    }
    if (refused_all) {
        fprintf(stderr, "pipeline-bench: %d messages not accepted with every check on\n", refused_all);
        failures++;
    }
    if (failures)
        fprintf(stderr, "pipeline-bench: %d failures\n", failures);
    else if (quiet)
        printf("pipeline-bench: ok\n");
    dns_resolver_free(r);
    config_install(NULL);
    for (int k = 0; k < K_COUNT; k++) {
        for (int i = 0; i < pools[k].n; i++)
            mem_free(pools[k].m[i].data);
        mem_free(pools[k].m);
    }
    dkim_close(dkim_lib);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ed_key);
    mem_free(rsa_pem);
    mem_free(ed_pem);
    str_free(&rsa_record);
    str_free(&ed_record);
    return failures ? 1 : 0;
}
