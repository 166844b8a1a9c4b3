/*
 * av.c - in-process virus scanning of whole messages with libclamav.
 *
 * One engine per process. av_init() loads every database in the database
 * directory (cl_load, then cl_engine_compile) with the scan limits set
 * before compiling. A scan locks, takes a reference on the current engine
 * (cl_engine_addref), unlocks, scans, and drops its reference
 * (cl_engine_free); so a scan never waits for a reload, and an engine that
 * was swapped out is freed by whichever scan ends last.
 *
 * A reload (av_reload, the watch thread after av_request_reload or when the
 * directory changed) builds and compiles a new engine without the lock,
 * then swaps the pointer under it. A database that fails to load is logged
 * and the old engine stays. With concurrent_reload = 0 the old engine is
 * dropped first (memory for one engine only) and scans return
 * AV_UNAVAILABLE until the new one is in; if that load fails, the scanner
 * stays unavailable until a later reload succeeds. A missing or empty
 * database directory at start is not fatal: av_init() logs it and scans
 * return AV_UNAVAILABLE until a reload finds a database.
 *
 * The directory check (av_check_changed) hashes name, size, mtime, ctime
 * and inode of every database file (libclamav's extensions only, so
 * freshclam.dat does not count) and compares with the state seen by the
 * last load attempt; a failed load is not retried until the files change
 * again.
 *
 * A message is scanned whole, header fields included, so libclamav's mail
 * parser walks MIME parts, transfer encodings, archives and attached
 * messages. libclamav only treats data as mail when it starts with one of
 * a few known header names, or has some within its first kilobytes; a
 * message that starts with another field (e.g. a long DKIM-Signature) would
 * be scanned as plain text and a base64 attachment would go undecoded. So
 * unless the message starts with "Received: ", "Return-Path: " or an mbox
 * "From " line, the scan sees one synthetic "Received:" line in front of it
 * (through a read callback, nothing is copied).
 *
 * Alerts: CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE and ..._EXCEEDS_MAX make
 * libclamav report encrypted archives and hit limits as
 * "Heuristics.Encrypted.*" and "Heuristics.Limits.Exceeded.*"; those become
 * AV_UNSCANNABLE, never AV_INFECTED. libclamav lets a real signature found
 * later in the message take precedence over them. The names are taken from
 * the virus-found callback: for a message over the file size limit
 * libclamav returns CL_VIRUS with no name.
 *
 * struct av_buffer keeps a message in memory up to spill_threshold bytes,
 * then in an unlinked file in temp_dir (O_TMPFILE, else mkstemp+unlink);
 * it keeps at most max_file_size bytes.
 *
 * av_text_* (av_skip_text_only, av_text_parts) follows the MIME structure
 * of a message as it streams in and says whether it is text only; see
 * av.h. It decides from the start of each line (boundaries, part header
 * blocks, uuencode/yEnc/BinHex markers) and never decodes; anything it
 * does not fully understand means "scan". It also notes where each text
 * part's body lies, so av_scan_text_parts can scan a text-only message
 * from memory: the whole message with libclamav's mail parser off, then
 * each part's body decoded (quoted-printable and base64 decoded strictly;
 * anything unusual sends the message to the mail parser instead).
 *
 * Logs: each (re)load (notice), a failed load (error), scanner failures
 * (warning), libclamav's own messages during loads at their level and
 * during scans at debug level only (their text comes from hostile input).
 */
#include "config.h"

#include <clamav.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "av.h"
#include "log.h"
#include "mem.h"
#include "util.h"

/* The line put in front of a message libclamav would not recognise as mail. */
#define AV_PREFIX_CRLF "Received: from rampart\r\n"
#define AV_PREFIX_LF "Received: from rampart\n"
/*
 * The first line of av_scan_text_parts' scan of the whole message with the
 * mail parser off: "Received: from " and 32 random hex digits made at
 * start-up, and a line end. libclamav's clean-file cache goes by content
 * alone: no other scan, and no content a sender makes, may have these
 * bytes, or the cache would answer "clean" for them with the mail parser
 * on (a message, or an attachment that holds it, scanned again).
 */
#define AV_RAW_PREFIX_HEAD "Received: from "
#define AV_RAW_PREFIX_LEN (sizeof(AV_RAW_PREFIX_HEAD) - 1 + 32 + 2)
/* The longest line a scan puts in front of a message (the size limits count on it). */
#define AV_PREFIX_MAX (AV_RAW_PREFIX_LEN > sizeof(AV_PREFIX_CRLF) - 1 ? AV_RAW_PREFIX_LEN : sizeof(AV_PREFIX_CRLF) - 1)
/* How far into a message to look for the end of the first line. */
#define AV_HEAD_BYTES 1024

#define AV_NAME_LIMITS "Heuristics.Limits.Exceeded."
#define AV_NAME_ENCRYPTED "Heuristics.Encrypted."

/* Options with owned strings. */
struct av_settings {
    char *database_dir;
    char *temp_dir;             /* NULL = libclamav's default ($TMPDIR or /tmp) */
    int64_t max_scan_size;
    int64_t max_file_size;
    int max_recursion;
    int max_files;
    int max_scan_time_ms;
    int concurrent_reload;
    int disable_cache;
    int64_t spill_threshold;
};

static pthread_once_t av_once = PTHREAD_ONCE_INIT;
static cl_error_t av_cl_init_rc;

/* av_lock guards the engine pointer, its info and the settings. */
static pthread_mutex_t av_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cl_engine *av_engine;
static struct av_engine_info av_info;
static struct av_settings av_set;
static int av_ready;            /* av_init() done, av_shutdown() not yet */
static int av_dropped;          /* a blocking reload dropped the engine */
static unsigned int av_generation;

/* One load at a time; scans never take this lock. */
static pthread_mutex_t av_reload_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t av_last_fp;     /* directory state at the last load attempt */

/* The watch thread. */
static pthread_mutex_t av_watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t av_watch_cond;
static pthread_t av_watch_thread;
static int av_watch_running;
static int av_watch_stop;
static int av_watch_request;
static int av_watch_interval_ms;

/* libclamav messages are logged at their level only while this thread loads. */
static __thread int av_in_load;

/* Database file extensions libclamav loads from a directory (readdb.h). */
static const char *const av_db_ext[] = {
    ".db", ".hdb", ".hdu", ".fp", ".mdb", ".mdu", ".hsb", ".hsu", ".sfp",
    ".msb", ".msu", ".ndb", ".ndu", ".ldb", ".ldu", ".sdb", ".zmd", ".rmd",
    ".pdb", ".gdb", ".wdb", ".cbc", ".ftm", ".cfg", ".cvd", ".cld", ".cud",
    ".cdb", ".cat", ".crb", ".idb", ".ioc", ".yar", ".yara", ".pwdb",
    ".ign", ".ign2", ".imp",
};

/* Starts of a message that libclamav's file type table calls mail. */
static const char *const av_mail_starts[] = { "Received: ", "Return-Path: ", "From " };

/* ---------------------------------------------------------------- names */

/* The result as a word for logs and headers. */
const char *av_result_name(enum av_result r)
{
    switch (r) {
    case AV_CLEAN: return "clean";
    case AV_INFECTED: return "infected";
    case AV_UNSCANNABLE: return "unscannable";
    case AV_ERROR: return "error";
    case AV_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

/* Why unscannable, as a word. */
const char *av_reason_name(enum av_reason r)
{
    switch (r) {
    case AV_REASON_NONE: return "none";
    case AV_REASON_ENCRYPTED: return "encrypted";
    case AV_REASON_LIMIT: return "limit";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- options */

/* Fill in the defaults. */
void av_options_defaults(struct av_options *o)
{
    memset(o, 0, sizeof(*o));
    o->database_dir = AV_DEFAULT_DATABASE_DIR;
    o->temp_dir = NULL;
    o->max_scan_size = AV_DEFAULT_MAX_SCAN_SIZE;
    o->max_file_size = AV_DEFAULT_MAX_FILE_SIZE;
    o->max_recursion = AV_DEFAULT_MAX_RECURSION;
    o->max_files = AV_DEFAULT_MAX_FILES;
    o->max_scan_time_ms = AV_DEFAULT_MAX_SCAN_TIME_MS;
    o->concurrent_reload = 1;
    o->disable_cache = 0;
    o->spill_threshold = AV_DEFAULT_SPILL_THRESHOLD;
}

/* Reject values libclamav cannot take; 0 if the options are usable. */
static int av_options_check(const struct av_options *o)
{
    if (o->database_dir == NULL || o->database_dir[0] == '\0') {
        log_error("av: no database directory");
        return -1;
    }
    /* libclamav keeps sizes in 64 bits but counts and times in 32. */
    if (o->max_scan_size <= 0 || o->max_file_size <= (int64_t) AV_PREFIX_MAX
        || o->max_recursion <= 0 || o->max_files <= 0 || o->max_scan_time_ms <= 0
        || o->spill_threshold < 0) {
        log_error("av: scan limits and the spill threshold must be positive");
        return -1;
    }
    return 0;
}

/* Free the strings; the struct is zeroed. */
static void av_settings_free(struct av_settings *s)
{
    mem_free(s->database_dir);
    mem_free(s->temp_dir);
    memset(s, 0, sizeof(*s));
}

/* Settings from checked options, strings copied. */
static void av_settings_from_options(struct av_settings *s, const struct av_options *o)
{
    s->database_dir = mem_strdup(o->database_dir);
    s->temp_dir = o->temp_dir != NULL && o->temp_dir[0] != '\0' ? mem_strdup(o->temp_dir) : NULL;
    s->max_scan_size = o->max_scan_size;
    s->max_file_size = o->max_file_size;
    s->max_recursion = o->max_recursion;
    s->max_files = o->max_files;
    s->max_scan_time_ms = o->max_scan_time_ms;
    s->concurrent_reload = o->concurrent_reload != 0;
    s->disable_cache = o->disable_cache != 0;
    s->spill_threshold = o->spill_threshold;
}

/* A deep copy, so a load works on settings nobody else changes. */
static void av_settings_copy(struct av_settings *dst, const struct av_settings *src)
{
    *dst = *src;
    dst->database_dir = src->database_dir != NULL ? mem_strdup(src->database_dir) : NULL;
    dst->temp_dir = src->temp_dir != NULL ? mem_strdup(src->temp_dir) : NULL;
}

/* ---------------------------------------------------------------- libclamav */

/* libclamav's messages into our log; scan-time text is untrusted. */
static void av_on_message(enum cl_msg severity, const char *fullmsg, const char *msg, void *ctx)
{
    str line = STR_INIT;
    ssize_t len;
    int level;

    (void) fullmsg;
    (void) ctx;
    if (msg == NULL)
        return;
    if (!av_in_load)
        level = LOG_LVL_DEBUG;
    else if (severity == CL_MSG_ERROR)
        level = LOG_LVL_ERROR;
    else if (severity == CL_MSG_WARN)
        level = LOG_LVL_WARNING;
    else
        level = LOG_LVL_DEBUG;
    if (level > log_get_level())
        return;
    len = (ssize_t) strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        len--;
    str_add_escaped(&line, msg, len, 1000);
    log_msg(level, "av: libclamav: %s", str_cstr(&line));
    str_free(&line);
}

/* Remember the alert name of this scan (see the file comment). */
static void av_on_virus(int fd, const char *virname, void *ctx)
{
    const char **name = ctx;

    (void) fd;
    if (name != NULL && virname != NULL)
        *name = virname;
}

/* Process-wide libclamav set-up: the message hook must precede cl_init. */
static void av_cl_init_once(void)
{
    cl_set_clcb_msg(av_on_message);
    av_cl_init_rc = cl_init(CL_INIT_DEFAULT);
}

/* Set one numeric engine field; 0 or -1 with err set. */
static int av_set_num(struct cl_engine *e, enum cl_engine_field f, long long v, const char *what, str *err)
{
    cl_error_t rc = cl_engine_set_num(e, f, v);

    if (rc != CL_SUCCESS) {
        str_addf(err, "cannot set %s: %s", what, cl_strerror(rc));
        return -1;
    }
    return 0;
}

/* A compiled engine for s, or NULL with err set. */
static struct cl_engine *av_engine_build(const struct av_settings *s, unsigned int *signo, str *err)
{
    struct cl_engine *e;
    cl_error_t rc;

    *signo = 0;
    e = cl_engine_new();
    if (e == NULL) {
        str_adds(err, "cannot create an engine");
        return NULL;
    }
    /* Limits before compiling: changing them on an engine in use is not thread-safe. */
    if (av_set_num(e, CL_ENGINE_MAX_SCANSIZE, s->max_scan_size, "max scan size", err) < 0
        || av_set_num(e, CL_ENGINE_MAX_FILESIZE, s->max_file_size, "max file size", err) < 0
        || av_set_num(e, CL_ENGINE_MAX_RECURSION, s->max_recursion, "max recursion", err) < 0
        || av_set_num(e, CL_ENGINE_MAX_FILES, s->max_files, "max files", err) < 0
        || av_set_num(e, CL_ENGINE_MAX_SCANTIME, s->max_scan_time_ms, "max scan time", err) < 0
        || (s->disable_cache
            && av_set_num(e, CL_ENGINE_DISABLE_CACHE, 1, "disable cache", err) < 0))
        goto fail;
    if (s->temp_dir != NULL && (rc = cl_engine_set_str(e, CL_ENGINE_TMPDIR, s->temp_dir)) != CL_SUCCESS) {
        str_addf(err, "cannot set the temporary directory: %s", cl_strerror(rc));
        goto fail;
    }
    cl_engine_set_clcb_virus_found(e, av_on_virus);

    av_in_load = 1;
    rc = cl_load(s->database_dir, e, signo, CL_DB_STDOPT);
    if (rc == CL_SUCCESS) {
        if (*signo == 0)
            str_adds(err, "no signatures");
        else if ((rc = cl_engine_compile(e)) != CL_SUCCESS)
            str_addf(err, "compile: %s", cl_strerror(rc));
    } else {
        str_adds(err, cl_strerror(rc));
    }
    av_in_load = 0;
    if (err->len > 0)
        goto fail;
    return e;

fail:
    cl_engine_free(e);
    return NULL;
}

/* ---------------------------------------------------------------- directory state */

/* Is name a file cl_load() reads from a directory? */
static int av_is_db_name(const char *name)
{
    size_t n = strlen(name);
    size_t i;

    if (name[0] == '.')
        return 0;
    for (i = 0; i < NELEM(av_db_ext); i++) {
        size_t el = strlen(av_db_ext[i]);

        if (n > el && strcasecmp(name + n - el, av_db_ext[i]) == 0)
            return 1;
    }
    return 0;
}

/* FNV-1a over len bytes, continuing from h. */
static uint64_t av_fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/*
 * A hash of the database files' names and metadata, independent of the
 * order readdir() returns them in. A missing directory hashes like an
 * empty one: neither has anything to load.
 */
static uint64_t av_fingerprint(const char *dir)
{
    DIR *d;
    struct dirent *de;
    uint64_t sum = 0, count = 0, h;

    d = opendir(dir);
    while (d != NULL && (de = readdir(d)) != NULL) {
        struct stat st;
        int64_t meta[7];

        if (!av_is_db_name(de->d_name))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
            continue;
        meta[0] = (int64_t) st.st_size;
        meta[1] = (int64_t) st.st_mtim.tv_sec;
        meta[2] = (int64_t) st.st_mtim.tv_nsec;
        meta[3] = (int64_t) st.st_ctim.tv_sec;
        meta[4] = (int64_t) st.st_ctim.tv_nsec;
        meta[5] = (int64_t) st.st_ino;
        meta[6] = (int64_t) st.st_dev;
        h = av_fnv(0xcbf29ce484222325ULL, de->d_name, strlen(de->d_name) + 1);
        h = av_fnv(h, meta, sizeof(meta));
        sum += h;
        count++;
    }
    if (d != NULL)
        closedir(d);
    h = av_fnv(0xcbf29ce484222325ULL, &sum, sizeof(sum));
    return av_fnv(h, &count, sizeof(count));
}

/* ---------------------------------------------------------------- load and reload */

/* Load the databases with the current settings and swap the engine in. */
static int av_load(const char *why)
{
    struct av_settings s;
    struct av_engine_info info;
    struct cl_engine *e, *old = NULL;
    str err = STR_INIT;
    unsigned int signo;
    uint64_t fp;
    int64_t t0;
    int have_old;

    pthread_mutex_lock(&av_lock);
    av_settings_copy(&s, &av_set);
    pthread_mutex_unlock(&av_lock);

    fp = av_fingerprint(s.database_dir);
    if (!s.concurrent_reload) {
        pthread_mutex_lock(&av_lock);
        old = av_engine;
        av_engine = NULL;
        av_info.loaded = 0;
        av_dropped = old != NULL;
        pthread_mutex_unlock(&av_lock);
        if (old != NULL)
            cl_engine_free(old);
    }

    t0 = clock_now_ms();
    e = av_engine_build(&s, &signo, &err);
    __atomic_store_n(&av_last_fp, fp, __ATOMIC_RELEASE);
    if (e == NULL) {
        pthread_mutex_lock(&av_lock);
        av_dropped = 0;
        have_old = av_engine != NULL;
        pthread_mutex_unlock(&av_lock);
        log_error("av: cannot load the signature database %s (%s): %s; %s", s.database_dir, why,
                  str_cstr(&err), have_old ? "keeping the loaded database"
                                           : "scans return unavailable until a database loads");
        str_free(&err);
        av_settings_free(&s);
        return -1;
    }

    memset(&info, 0, sizeof(info));
    info.loaded = 1;
    info.version = cl_retver();
    info.signatures = signo;
    info.db_version = (unsigned int) cl_engine_get_num(e, CL_ENGINE_DB_VERSION, NULL);
    info.db_time = (int64_t) cl_engine_get_num(e, CL_ENGINE_DB_TIME, NULL);
    info.loaded_at = (int64_t) time(NULL);
    info.load_ms = clock_now_ms() - t0;

    pthread_mutex_lock(&av_lock);
    old = av_engine;
    av_engine = e;
    info.generation = ++av_generation;
    av_info = info;
    av_dropped = 0;
    pthread_mutex_unlock(&av_lock);
    /* Scans still holding the old engine keep it alive until they end. */
    if (old != NULL)
        cl_engine_free(old);

    log_notice("av: loaded %u signatures from %s in %lld ms (%s, database version %u, load %u)",
               info.signatures, s.database_dir, (long long) info.load_ms, why, info.db_version,
               info.generation);
    av_settings_free(&s);
    return 0;
}

/*
 * The first line of a text-only message scanned as it is (av_scan_text_parts),
 * random per process, made by av_init: empty until then.
 */
static char av_raw_prefix[AV_RAW_PREFIX_LEN + 1];

/* Make av_raw_prefix, once; -1 if the system gives no random bytes. */
static int av_raw_prefix_make(void)
{
    char *p = av_raw_prefix + sizeof(AV_RAW_PREFIX_HEAD) - 1;

    if (av_raw_prefix[0] != '\0')
        return 0;
    if (random_hex(p, 16) != 0) {
        log_error("av: getrandom: %s", strerror(errno));
        return -1;
    }
    memcpy(p + 32, "\r\n", 3);
    memcpy(av_raw_prefix, AV_RAW_PREFIX_HEAD, sizeof(AV_RAW_PREFIX_HEAD) - 1);
    return 0;
}

/* Set up libclamav and load the databases; see av.h. */
int av_init(const struct av_options *o)
{
    struct av_settings s;
    int rc;

    if (av_options_check(o) < 0)
        return -1;
    pthread_once(&av_once, av_cl_init_once);
    if (av_cl_init_rc != CL_SUCCESS) {
        log_error("av: libclamav initialisation failed: %s", cl_strerror(av_cl_init_rc));
        return -1;
    }
    if (av_raw_prefix_make() != 0)
        return -1;
    if (o->temp_dir != NULL && o->temp_dir[0] != '\0' && access(o->temp_dir, W_OK | X_OK) < 0)
        log_warning("av: temporary directory %s: %s", o->temp_dir, strerror(errno));

    av_settings_from_options(&s, o);
    pthread_mutex_lock(&av_reload_lock);
    pthread_mutex_lock(&av_lock);
    if (av_ready) {
        pthread_mutex_unlock(&av_lock);
        pthread_mutex_unlock(&av_reload_lock);
        av_settings_free(&s);
        log_error("av: already initialised");
        return -1;
    }
    av_set = s;
    av_ready = 1;
    pthread_mutex_unlock(&av_lock);
    rc = av_load("start");
    pthread_mutex_unlock(&av_reload_lock);
    if (rc < 0)
        log_warning("av: virus scanning unavailable: no usable database in %s", o->database_dir);
    return 0;
}

/* Stop watching and drop the engine. */
void av_shutdown(void)
{
    struct cl_engine *e;

    av_stop_watch();
    pthread_mutex_lock(&av_reload_lock);
    pthread_mutex_lock(&av_lock);
    e = av_engine;
    av_engine = NULL;
    memset(&av_info, 0, sizeof(av_info));
    av_settings_free(&av_set);
    av_ready = 0;
    av_dropped = 0;
    pthread_mutex_unlock(&av_lock);
    pthread_mutex_unlock(&av_reload_lock);
    if (e != NULL)
        cl_engine_free(e);
}

/* Load the databases again, with new options if o is set; see av.h. */
int av_reload(const struct av_options *o)
{
    struct av_settings s, old;
    int rc;

    if (o != NULL && av_options_check(o) < 0)
        return -1;
    pthread_mutex_lock(&av_reload_lock);
    pthread_mutex_lock(&av_lock);
    if (!av_ready) {
        pthread_mutex_unlock(&av_lock);
        pthread_mutex_unlock(&av_reload_lock);
        log_error("av: reload before initialisation");
        return -1;
    }
    if (o != NULL) {
        av_settings_from_options(&s, o);
        old = av_set;
        av_set = s;
    } else {
        memset(&old, 0, sizeof(old));
    }
    pthread_mutex_unlock(&av_lock);
    av_settings_free(&old);
    rc = av_load("reload");
    pthread_mutex_unlock(&av_reload_lock);
    return rc;
}

/* Has the database directory changed since the last load attempt? */
int av_check_changed(void)
{
    char *dir;
    uint64_t fp;

    pthread_mutex_lock(&av_lock);
    dir = av_ready ? mem_strdup(av_set.database_dir) : NULL;
    pthread_mutex_unlock(&av_lock);
    if (dir == NULL)
        return 0;
    fp = av_fingerprint(dir);
    mem_free(dir);
    return fp != __atomic_load_n(&av_last_fp, __ATOMIC_ACQUIRE);
}

/* Reload when asked, or when the directory changed (like clamd's SelfCheck). */
static void *av_watch_main(void *arg)
{
    int64_t next_check;

    thread_name("rampart-avwatch");
    (void) arg;
    pthread_mutex_lock(&av_watch_lock);
    next_check = clock_now_ms() + av_watch_interval_ms;
    while (!av_watch_stop) {
        int requested, check = 0;

        if (!av_watch_request) {
            if (av_watch_interval_ms > 0) {
                int64_t wait_ms = next_check - clock_now_ms();
                struct timespec ts;

                clock_gettime(CLOCK_MONOTONIC, &ts);
                if (wait_ms > 0) {
                    ts.tv_sec += wait_ms / 1000;
                    ts.tv_nsec += (wait_ms % 1000) * 1000000L;
                    if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                    }
                    pthread_cond_timedwait(&av_watch_cond, &av_watch_lock, &ts);
                }
                if (clock_now_ms() >= next_check) {
                    check = 1;
                    next_check = clock_now_ms() + av_watch_interval_ms;
                }
            } else {
                pthread_cond_wait(&av_watch_cond, &av_watch_lock);
            }
        }
        if (av_watch_stop)
            break;
        requested = av_watch_request;
        av_watch_request = 0;
        if (!requested && !check)
            continue;
        pthread_mutex_unlock(&av_watch_lock);
        if (requested) {
            av_reload(NULL);
        } else if (av_check_changed()) {
            log_info("av: the signature database changed, reloading");
            av_reload(NULL);
        }
        pthread_mutex_lock(&av_watch_lock);
    }
    pthread_mutex_unlock(&av_watch_lock);
    return NULL;
}

/* Start the watch thread; see av.h. */
int av_start_watch(int interval_ms)
{
    pthread_condattr_t ca;
    sigset_t all, old;
    int rc;

    pthread_mutex_lock(&av_watch_lock);
    if (av_watch_running) {
        av_watch_interval_ms = interval_ms > 0 ? interval_ms : 0;
        pthread_cond_signal(&av_watch_cond);
        pthread_mutex_unlock(&av_watch_lock);
        return 0;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&av_watch_cond, &ca);
    pthread_condattr_destroy(&ca);
    av_watch_interval_ms = interval_ms > 0 ? interval_ms : 0;
    av_watch_stop = 0;
    av_watch_request = 0;
    /* Signals stay with the threads that handle them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&av_watch_thread, NULL, av_watch_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&av_watch_cond);
        pthread_mutex_unlock(&av_watch_lock);
        log_error("av: cannot start the database watch thread: %s", strerror(rc));
        return -1;
    }
    av_watch_running = 1;
    pthread_mutex_unlock(&av_watch_lock);
    return 0;
}

/* Stop the watch thread, waiting for a reload it runs. */
void av_stop_watch(void)
{
    pthread_mutex_lock(&av_watch_lock);
    if (!av_watch_running) {
        pthread_mutex_unlock(&av_watch_lock);
        return;
    }
    av_watch_stop = 1;
    pthread_cond_signal(&av_watch_cond);
    pthread_mutex_unlock(&av_watch_lock);
    pthread_join(av_watch_thread, NULL);
    pthread_mutex_lock(&av_watch_lock);
    av_watch_running = 0;
    pthread_cond_destroy(&av_watch_cond);
    pthread_mutex_unlock(&av_watch_lock);
}

/* Ask the watch thread for a reload. */
void av_request_reload(void)
{
    pthread_mutex_lock(&av_watch_lock);
    if (av_watch_running) {
        av_watch_request = 1;
        pthread_cond_signal(&av_watch_cond);
        pthread_mutex_unlock(&av_watch_lock);
        return;
    }
    pthread_mutex_unlock(&av_watch_lock);
    log_warning("av: reload requested with no watch thread running; reloading now");
    av_reload(NULL);
}

/* ---------------------------------------------------------------- engine info */

/* A copy of the current engine's description. */
void av_engine_info(struct av_engine_info *info)
{
    pthread_mutex_lock(&av_lock);
    *info = av_info;
    pthread_mutex_unlock(&av_lock);
    info->version = cl_retver();
}

/* One line naming the engine and its database, for a header. */
void av_engine_describe(str *out)
{
    struct av_engine_info info;
    char when[64];
    struct tm tm;
    time_t t;

    av_engine_info(&info);
    if (!info.loaded) {
        str_addf(out, "ClamAV %s (no database)", info.version);
        return;
    }
    t = (time_t) info.db_time;
    if (info.db_version != 0 && info.db_time > 0 && gmtime_r(&t, &tm) != NULL
        && strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm) > 0)
        str_addf(out, "ClamAV %s/%u/%s", info.version, info.db_version, when);
    else
        str_addf(out, "ClamAV %s (%u signatures)", info.version, info.signatures);
}

/* ---------------------------------------------------------------- scanning */

/* An empty report. */
void av_report_init(struct av_report *r)
{
    memset(r, 0, sizeof(*r));
    str_init(&r->detail);
}

/* Release the detail text; the report is empty and usable again. */
void av_report_free(struct av_report *r)
{
    str_free(&r->detail);
    av_report_init(r);
}

/* Clear a report for the next scan, keeping its buffer. */
static void av_report_reset(struct av_report *r)
{
    r->result = AV_CLEAN;
    r->reason = AV_REASON_NONE;
    str_reset(&r->detail);
    r->scanned_bytes = 0;
    r->elapsed_ms = 0;
    r->generation = 0;
}

/* What a scan reads: an optional prefix, then a message in memory or a file. */
struct av_source {
    const char *prefix;
    size_t prefix_len;
    const unsigned char *mem;   /* NULL: read fd */
    int fd;
    size_t len;                 /* message bytes, prefix not counted */
};

/*
 * libclamav 1.4.6 takes the handle of a cl_fmap_open_handle() map for a
 * file descriptor (it marks every such map as backed by one): it seeks it
 * on every scan (lseek((int) handle, 0, SEEK_SET), seen with strace), and
 * by its source may dup() it for gzip, hand it to the RAR reader or
 * fstat() it when it reads a page again. The low 32 bits of a pointer
 * could name one of our descriptors. So the handle it gets is AV_HANDLE,
 * which no descriptor is (those calls then fail), and the source is this
 * thread's av_scan_src: a scan runs in its caller's thread, and libclamav
 * calls the read callback from it. Maps are opened without aging: with it,
 * libclamav drops pages of a large file and, reading one again, checks
 * the file with fstat() on the handle first, which fails, and the scan
 * would then miss that data. A spilled message's pages (at most
 * av_max_file_size) stay mapped until its scan ends.
 */
#define AV_HANDLE ((void *) (intptr_t) -1)
static __thread struct av_source *av_scan_src;

/* pread() over prefix + message, for cl_fmap_open_handle. */
static off_t av_source_pread(void *handle, void *buf, size_t count, off_t offset)
{
    struct av_source *s = av_scan_src;
    unsigned char *out = buf;
    size_t total, off, done = 0;

    if (handle != AV_HANDLE || s == NULL || offset < 0)
        return -1;
    total = s->prefix_len + s->len;
    off = (size_t) offset;
    if (off >= total)
        return 0;
    if (count > total - off)
        count = total - off;
    if (off < s->prefix_len) {
        size_t n = s->prefix_len - off < count ? s->prefix_len - off : count;

        memcpy(out, s->prefix + off, n);
        done = n;
    }
    while (done < count) {
        size_t moff = off + done - s->prefix_len;
        ssize_t n;

        if (s->mem != NULL) {
            memcpy(out + done, s->mem + moff, count - done);
            done = count;
            break;
        }
        n = pread(s->fd, out + done, count - done, (off_t) moff);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return done > 0 ? (off_t) done : -1;
        if (n == 0)
            break;
        done += (size_t) n;
    }
    return (off_t) done;
}

/* Choose the prefix from the first bytes of the message. */
static void av_source_prefix(struct av_source *s, const unsigned char *head, size_t n)
{
    const unsigned char *nl;
    size_t i;

    for (i = 0; i < NELEM(av_mail_starts); i++) {
        size_t l = strlen(av_mail_starts[i]);

        if (n >= l && memcmp(head, av_mail_starts[i], l) == 0) {
            s->prefix = NULL;
            s->prefix_len = 0;
            return;
        }
    }
    nl = memchr(head, '\n', n);
    if (nl != NULL && (nl == head || nl[-1] != '\r')) {
        s->prefix = AV_PREFIX_LF;
        s->prefix_len = sizeof(AV_PREFIX_LF) - 1;
    } else {
        s->prefix = AV_PREFIX_CRLF;
        s->prefix_len = sizeof(AV_PREFIX_CRLF) - 1;
    }
}

/* A reference on the current engine, or NULL with the reason in r. */
static struct cl_engine *av_engine_get(struct av_report *r)
{
    struct cl_engine *e;

    pthread_mutex_lock(&av_lock);
    e = av_engine;
    if (e != NULL) {
        cl_engine_addref(e);
        r->generation = av_info.generation;
    } else {
        r->result = AV_UNAVAILABLE;
        str_adds(&r->detail, !av_ready ? "scanner not initialised"
                             : av_dropped ? "signature database reloading"
                             : "no signature database loaded");
    }
    pthread_mutex_unlock(&av_lock);
    return e;
}

/* Turn libclamav's answer into a result. */
static void av_classify(cl_error_t rc, const char *name, struct av_report *r)
{
    switch (rc) {
    case CL_CLEAN:
        r->result = AV_CLEAN;
        return;
    case CL_VIRUS:
        if (name == NULL) {
            r->result = AV_INFECTED;
            str_adds(&r->detail, "unnamed signature");
        } else if (strncmp(name, AV_NAME_LIMITS, strlen(AV_NAME_LIMITS)) == 0) {
            r->result = AV_UNSCANNABLE;
            r->reason = AV_REASON_LIMIT;
            str_adds(&r->detail, name);
        } else if (strncmp(name, AV_NAME_ENCRYPTED, strlen(AV_NAME_ENCRYPTED)) == 0) {
            r->result = AV_UNSCANNABLE;
            r->reason = AV_REASON_ENCRYPTED;
            str_adds(&r->detail, name);
        } else {
            r->result = AV_INFECTED;
            str_adds(&r->detail, name);
        }
        return;
    case CL_ETIMEOUT:
    case CL_EMAXREC:
    case CL_EMAXSIZE:
    case CL_EMAXFILES:
        r->result = AV_UNSCANNABLE;
        r->reason = AV_REASON_LIMIT;
        str_adds(&r->detail, cl_strerror(rc));
        return;
    default:
        r->result = AV_ERROR;
        str_adds(&r->detail, cl_strerror(rc));
        return;
    }
}

/* Scan a source with the current engine; parse_mail 0: as it is, mail parser off. */
static enum av_result av_scan_source(struct av_source *src, int parse_mail, struct av_report *r)
{
    struct cl_scan_options opts;
    struct cl_engine *e;
    cl_fmap_t *map;
    const char *virname = NULL, *alert = NULL;
    unsigned long scanned = 0;
    int64_t t0 = clock_now_ms();
    cl_error_t rc;

    av_report_reset(r);
    e = av_engine_get(r);
    if (e == NULL)
        return r->result;

    av_scan_src = src;
    if (src->mem != NULL && src->prefix_len == 0)
        map = cl_fmap_open_memory(src->mem, src->len);
    else
        map = cl_fmap_open_handle(AV_HANDLE, 0, src->prefix_len + src->len, av_source_pread, 0);
    if (map == NULL) {
        av_scan_src = NULL;
        cl_engine_free(e);
        r->result = AV_ERROR;
        str_adds(&r->detail, "cannot map the message");
        log_warning("av: scan failed: cannot map a message of %zu bytes", src->len);
        return r->result;
    }

    memset(&opts, 0, sizeof(opts));
    opts.general = CL_SCAN_GENERAL_HEURISTICS;
    opts.parse = CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_ELF | CL_SCAN_PARSE_PDF | CL_SCAN_PARSE_SWF
                 | CL_SCAN_PARSE_HWP3 | CL_SCAN_PARSE_XMLDOCS | (parse_mail ? CL_SCAN_PARSE_MAIL : 0)
                 | CL_SCAN_PARSE_OLE2 | CL_SCAN_PARSE_HTML | CL_SCAN_PARSE_PE
                 | CL_SCAN_PARSE_ONENOTE | CL_SCAN_PARSE_IMAGE
                 | CL_SCAN_PARSE_IMAGE_FUZZY_HASH;
    opts.heuristic = CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE | CL_SCAN_HEURISTIC_EXCEEDS_MAX;

    rc = cl_scanmap_callback(map, NULL, &virname, &scanned, e, &opts, &alert);
    cl_fmap_close(map);
    av_scan_src = NULL;
    /* Names live in the engine: copy them before dropping it. */
    av_classify(rc, virname != NULL ? virname : alert, r);
    cl_engine_free(e);

    r->scanned_bytes = (int64_t) scanned * CL_COUNT_PRECISION;
    r->elapsed_ms = clock_now_ms() - t0;
    if (r->result == AV_ERROR)
        log_warning("av: scan failed: %s", str_cstr(&r->detail));
    log_debug("av: scanned %zu bytes in %lld ms: %s %s", src->len, (long long) r->elapsed_ms,
              av_result_name(r->result), str_cstr(&r->detail));
    return r->result;
}

/* Scan a message in memory. */
enum av_result av_scan_mem(const void *msg, ssize_t len, struct av_report *r)
{
    struct av_source src;

    if (len < 0)
        log_panic("av_scan_mem: negative length %zd", len);
    memset(&src, 0, sizeof(src));
    src.mem = msg != NULL ? msg : (const unsigned char *) "";
    src.fd = -1;
    src.len = msg != NULL ? (size_t) len : 0;
    av_source_prefix(&src, src.mem, src.len < AV_HEAD_BYTES ? src.len : AV_HEAD_BYTES);
    return av_scan_source(&src, 1, r);
}

/* Scan the first len bytes of an open file. */
static enum av_result av_scan_fd_len(int fd, size_t len, struct av_report *r)
{
    struct av_source src;
    unsigned char head[AV_HEAD_BYTES];
    ssize_t n;

    do
        n = pread(fd, head, len < sizeof(head) ? len : sizeof(head), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        av_report_reset(r);
        r->result = AV_ERROR;
        str_addf(&r->detail, "read: %s", strerror(errno));
        log_warning("av: scan failed: %s", str_cstr(&r->detail));
        return r->result;
    }
    memset(&src, 0, sizeof(src));
    src.fd = fd;
    src.len = len;
    av_source_prefix(&src, head, (size_t) n);
    return av_scan_source(&src, 1, r);
}

/* Scan a whole open file. */
enum av_result av_scan_fd(int fd, struct av_report *r)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        av_report_reset(r);
        r->result = AV_ERROR;
        str_addf(&r->detail, "fstat: %s", strerror(errno));
        return r->result;
    }
    return av_scan_fd_len(fd, (size_t) st.st_size, r);
}

/* Scan a file by name. */
enum av_result av_scan_file(const char *path, struct av_report *r)
{
    enum av_result res;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        av_report_reset(r);
        r->result = AV_ERROR;
        str_addf(&r->detail, "open: %s", strerror(errno));
        return r->result;
    }
    res = av_scan_fd(fd, r);
    close(fd);
    return res;
}

/* ---------------------------------------------------------------- text parts */


/* One quoted-printable line (line end removed): 1 if it ends in a soft line
   break, 0 if not, -1 on a "=" that is neither "=XX" nor a soft line break. */
static int av_qp_line(const unsigned char *s, ssize_t n, str *out)
{
    for (ssize_t i = 0; i < n; i++) {
        ssize_t j;
        int hi, lo;

        if (s[i] != '=') {
            str_addc(out, (char) s[i]);
            continue;
        }
        if (i + 2 < n && (hi = ascii_hexval(s[i + 1])) >= 0 && (lo = ascii_hexval(s[i + 2])) >= 0) {
            str_addc(out, (char) (hi << 4 | lo));
            i += 2;
            continue;
        }
        /* "=" and blanks up to the line end (RFC 2045 6.7 (3), (5)) */
        for (j = i + 1; j < n && (s[j] == ' ' || s[j] == '\t'); j++)
            ;
        return j == n ? 1 : -1;
    }
    return 0;
}

/*
 * Text as libclamav's mail parser hands a text part on: line by line,
 * each line (quoted-printable decoded when qp) ended with a bare LF, the
 * last one too; a soft line break joins two lines. -1 if the
 * quoted-printable does not decode cleanly.
 */
static int av_text_lines(const unsigned char *s, ssize_t n, int qp, str *out)
{
    ssize_t i = 0;

    while (i < n) {
        const unsigned char *nl = memchr(s + i, '\n', (size_t) (n - i));
        ssize_t end = nl ? nl - s : n, le = end;
        int soft = 0;

        if (le > i && s[le - 1] == '\r')
            le--;
        if (qp) {
            if ((soft = av_qp_line(s + i, le - i, out)) < 0)
                return -1;
        } else
            str_add(out, (const char *) s + i, le - i);
        if (!soft)
            str_addc(out, '\n');
        i = nl ? end + 1 : n;
    }
    return 0;
}

/* Base64; -1 on a character outside the alphabet and line white space, or data after padding. */
static int av_b64_decode(const unsigned char *s, ssize_t n, str *out)
{
    uint32_t acc = 0;
    int bits = 0, pad = 0;

    for (ssize_t i = 0; i < n; i++) {
        int v;

        if (s[i] == '\r' || s[i] == '\n' || s[i] == ' ' || s[i] == '\t')
            continue;
        if (s[i] == '=') {
            if (++pad > 2)
                return -1;
            continue;
        }
        if (pad || (v = base64_value(s[i])) < 0)
            return -1;
        acc = acc << 6 | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            str_addc(out, (char) (acc >> bits & 0xff));
        }
    }
    return 0;
}

int av_text_leaf_decode(const struct av_text_leaf *l, const void *body, str *out)
{
    const unsigned char *s = (const unsigned char *) body + l->start;
    ssize_t len = l->end - l->start;

    if (l->enc == AV_TEXT_ENC_BASE64)
        return av_b64_decode(s, len, out);
    return av_text_lines(s, len, l->enc == AV_TEXT_ENC_QP, out);
}

/* Keep in r what p found when it weighs more: infected, a failure, then unscannable. */
static int av_report_merge(struct av_report *r, const struct av_report *p)
{
    int stop = p->result == AV_INFECTED || p->result == AV_ERROR || p->result == AV_UNAVAILABLE;

    r->scanned_bytes += p->scanned_bytes;
    r->elapsed_ms += p->elapsed_ms;
    if (stop || (p->result == AV_UNSCANNABLE && r->result == AV_CLEAN)) {
        r->result = p->result;
        r->reason = p->reason;
        str_reset(&r->detail);
        str_add(&r->detail, p->detail.data, p->detail.len);
        r->generation = p->generation;
    }
    return stop;
}

int av_scan_text_parts(const struct av_buffer *b, ssize_t body_off, const struct av_text *t, struct av_report *r)
{
    const struct av_text_leaf *leaves;
    int n = av_text_leaves(t, &leaves), ok = 1;
    const unsigned char *body = (const unsigned char *) b->mem.data + body_off;
    str dec[AV_TEXT_SCAN_MAX_PARTS];
    struct av_source src;
    struct av_report p;

    if (b->fd >= 0 || b->error || b->len != b->total || t->why != NULL || n > AV_TEXT_SCAN_MAX_PARTS
        || body_off < 0 || body_off > b->len || av_raw_prefix[0] == '\0')
        return 0;
    for (int i = 0; i < n; i++)
        if (leaves[i].html || leaves[i].start < 0 || leaves[i].end > b->len - body_off)
            return 0;
    /* Decode first: a part that does not decode cleanly goes to the mail parser. */
    for (int i = 0; i < n; i++) {
        str_init(&dec[i]);
        if (ok)
            ok = av_text_leaf_decode(&leaves[i], body, &dec[i]) == 0;
    }
    if (ok) {
        /* The message as it is: signatures for mail files and for any file. */
        memset(&src, 0, sizeof(src));
        src.mem = (const unsigned char *) b->mem.data;
        src.fd = -1;
        src.len = (size_t) b->len;
        src.prefix = av_raw_prefix;
        src.prefix_len = AV_RAW_PREFIX_LEN;
        av_scan_source(&src, 0, r);
        av_report_init(&p);
        for (int i = 0; i < n && r->result != AV_INFECTED && r->result != AV_ERROR
                        && r->result != AV_UNAVAILABLE; i++) {
            memset(&src, 0, sizeof(src));
            src.fd = -1;
            src.mem = (const unsigned char *) dec[i].data;
            src.len = (size_t) dec[i].len;
            if (src.len == 0)
                continue;
            av_scan_source(&src, 1, &p);
            if (av_report_merge(r, &p))
                break;
        }
        av_report_free(&p);
        log_debug("av: scanned part by part: %d text part(s), %s", n, av_result_name(r->result));
    }
    for (int i = 0; i < n; i++)
        str_free(&dec[i]);
    return ok;
}

/* ---------------------------------------------------------------- message buffer */

/* An empty buffer with the settings in force. */
void av_buffer_init(struct av_buffer *b)
{
    memset(b, 0, sizeof(*b));
    str_init(&b->mem);
    b->fd = -1;
    pthread_mutex_lock(&av_lock);
    if (av_ready) {
        b->spill_threshold = av_set.spill_threshold;
        b->max_len = av_set.max_file_size;
        b->temp_dir = av_set.temp_dir != NULL ? mem_strdup(av_set.temp_dir) : NULL;
    } else {
        b->spill_threshold = AV_DEFAULT_SPILL_THRESHOLD;
        b->max_len = AV_DEFAULT_MAX_FILE_SIZE;
    }
    pthread_mutex_unlock(&av_lock);
    /* Room for the prefix a scan may add: libclamav skips anything larger. */
    b->max_len -= (int64_t) AV_PREFIX_MAX;
}

/* Release memory and the temporary file. */
void av_buffer_free(struct av_buffer *b)
{
    str_free(&b->mem);
    if (b->fd >= 0)
        close(b->fd);
    mem_free(b->temp_dir);
    memset(b, 0, sizeof(*b));
    b->fd = -1;
}

/* Write all of data, or -1 with errno set. */
static int av_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/* An unlinked temporary file in dir, or -1 with errno set. */
static int av_tmpfile(const char *dir)
{
    str path = STR_INIT;
    int fd, saved;

    if (dir == NULL) {
        dir = getenv("TMPDIR");
        if (dir == NULL || dir[0] == '\0')
            dir = "/tmp";
    }
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    /* Some file systems cannot; anything else is a real error. */
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return -1;
#endif
    str_addf(&path, "%s/rampart-av-XXXXXX", dir);
    fd = mkostemp(path.data, O_CLOEXEC);
    saved = errno;
    if (fd >= 0)
        unlink(path.data);
    str_free(&path);
    errno = saved;
    return fd;
}

/* Move the bytes held in memory to a temporary file. */
static int av_buffer_spill(struct av_buffer *b)
{
    int fd = av_tmpfile(b->temp_dir);

    if (fd < 0 || av_write_all(fd, b->mem.data, (size_t) b->mem.len) < 0) {
        b->error = errno != 0 ? errno : EIO;
        if (fd >= 0)
            close(fd);
        log_error("av: cannot spill a message to a temporary file in %s: %s",
                  b->temp_dir != NULL ? b->temp_dir : "the default directory", strerror(b->error));
        return -1;
    }
    b->fd = fd;
    str_free(&b->mem);
    return 0;
}

/* Append a chunk of the message; see av.h. */
int av_buffer_add(struct av_buffer *b, const void *data, ssize_t len)
{
    int64_t room;

    if (len < 0)
        log_panic("av_buffer_add: negative length %zd", len);
    if (b->error != 0)
        return -1;
    b->total += (int64_t) len;
    room = b->max_len - b->len;
    if (room <= 0 || len == 0)
        return 0;
    if ((int64_t) len > room)
        len = (ssize_t) room;
    if (b->fd < 0 && b->len + (int64_t) len > b->spill_threshold && av_buffer_spill(b) < 0)
        return -1;
    if (b->fd < 0) {
        str_add(&b->mem, data, len);
    } else if (av_write_all(b->fd, data, (size_t) len) < 0) {
        b->error = errno;
        log_error("av: cannot write a message to its temporary file: %s", strerror(b->error));
        return -1;
    }
    b->len += (int64_t) len;
    return 0;
}

/* Scan what the buffer holds. */
enum av_result av_scan_buffer(const struct av_buffer *b, struct av_report *r)
{
    enum av_result res;

    if (b->error != 0) {
        av_report_reset(r);
        r->result = AV_ERROR;
        str_addf(&r->detail, "temporary file: %s", strerror(b->error));
        return r->result;
    }
    if (b->fd >= 0)
        res = av_scan_fd_len(b->fd, (size_t) b->len, r);
    else
        res = av_scan_mem(b->mem.data, b->mem.len, r);
    /* Only the first max_len bytes were kept: clean is not proven. */
    if (res == AV_CLEAN && b->total > b->len) {
        r->result = AV_UNSCANNABLE;
        r->reason = AV_REASON_LIMIT;
        str_set(&r->detail, AV_NAME_LIMITS "MaxFileSize");
        res = r->result;
    }
    return res;
}

/* ---------------------------------------------------------------- text only */

/* Bytes of a body line looked at: a delimiter, its padding, a block marker. */
#define AV_TEXT_LINE_KEEP (AV_TEXT_MAX_BOUNDARY + 64)

/* The fields of a part that decide what it is. */
struct av_text_fields {
    const char *ct, *cd, *cte;          /* values (after the colon) */
    ssize_t ct_len, cd_len, cte_len;
    int n_ct, n_cd, n_cte;
};

/* A parsed Content-Type, Content-Disposition or Content-Transfer-Encoding. */
struct av_text_value {
    const char *type, *sub;             /* tokens, pointing into the value */
    ssize_t type_len, sub_len;
    int named;                          /* a name or filename parameter */
    int n_boundary;
    str boundary;                       /* the boundary parameter, unquoted */
};

/* Record the first reason the message is not text only. */
static void av_text_not(struct av_text *t, const char *why)
{
    if (t->why == NULL)
        t->why = why;
}

/* An RFC 2045 token character. */
static int av_text_tokenc(unsigned char c)
{
    return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Skip white space and folds. */
static const char *av_text_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++;
    return s;
}

/* s (n bytes) is the word w, ignoring ASCII case. */
static int av_text_is(const char *s, ssize_t n, const char *w)
{
    ssize_t i;

    for (i = 0; i < n && w[i]; i++)
        if (ascii_tolower((unsigned char) s[i]) != ascii_tolower((unsigned char) w[i]))
            return 0;
    return i == n && w[i] == '\0';
}

/* s (n bytes) starts with p, ignoring ASCII case. */
static int av_text_starts(const char *s, ssize_t n, const char *p)
{
    ssize_t i;

    for (i = 0; p[i]; i++)
        if (i >= n || ascii_tolower((unsigned char) s[i]) != ascii_tolower((unsigned char) p[i]))
            return 0;
    return 1;
}

/* Read a token; its length (0 = none). */
static ssize_t av_text_token(const char **p, const char *end)
{
    const char *s = *p;

    while (*p < end && av_text_tokenc((unsigned char) **p))
        (*p)++;
    return *p - s;
}

/*
 * Parse "type/sub; attr=value; ..." (with_sub) or "type; attr=value"; -1
 * if it does not parse (comments, bad quoting, a stray character), which
 * the caller takes as a broken structure.
 */
static int av_text_parse(const char *s, ssize_t len, int with_sub, struct av_text_value *v)
{
    const char *end = s + len, *p = av_text_ws(s, end);

    v->type = p;
    if ((v->type_len = av_text_token(&p, end)) == 0)
        return -1;
    if (with_sub) {
        p = av_text_ws(p, end);
        if (p >= end || *p != '/')
            return -1;
        p = av_text_ws(p + 1, end);
        v->sub = p;
        if ((v->sub_len = av_text_token(&p, end)) == 0)
            return -1;
    }
    for (;;) {
        const char *attr;
        ssize_t alen;
        int is_boundary;

        p = av_text_ws(p, end);
        if (p >= end)
            return 0;
        if (*p != ';')
            return -1;
        p = av_text_ws(p + 1, end);
        if (p >= end)
            return 0;
        if (*p == ';')
            continue;
        attr = p;
        if ((alen = av_text_token(&p, end)) == 0)
            return -1;
        p = av_text_ws(p, end);
        if (p >= end || *p != '=')
            return -1;
        p = av_text_ws(p + 1, end);
        is_boundary = av_text_is(attr, alen, "boundary");
        if (is_boundary && v->n_boundary++ > 0)
            return -1;
        /* name, filename, and their RFC 2231 forms (name*, filename*0*, ...) */
        if (av_text_is(attr, alen, "name") || av_text_is(attr, alen, "filename")
            || av_text_starts(attr, alen, "name*") || av_text_starts(attr, alen, "filename*"))
            v->named = 1;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\r' || *p == '\n')
                    continue;   /* a fold inside the quotes */
                if (*p == '\\' && p + 1 < end)
                    p++;
                if (is_boundary)
                    str_addc(&v->boundary, *p);
            }
            if (p >= end)
                return -1;
            p++;
        } else {
            const char *val = p;

            if (av_text_token(&p, end) == 0)
                return -1;
            if (is_boundary)
                str_add(&v->boundary, val, p - val);
        }
    }
}

/* A part (or the message) with these fields starts: decide, or open its multipart. */
static void av_text_part(struct av_text *t, const struct av_text_fields *f, int in_digest)
{
    struct av_text_value ct, cd, cte;

    memset(&ct, 0, sizeof(ct));
    memset(&cd, 0, sizeof(cd));
    memset(&cte, 0, sizeof(cte));
    if (f->n_ct > 1 || f->n_cd > 1 || f->n_cte > 1) {
        av_text_not(t, "a part with a repeated Content-Type, Content-Disposition or "
                       "Content-Transfer-Encoding");
        return;
    }
    if (f->n_cd) {
        if (av_text_parse(f->cd, f->cd_len, 0, &cd) != 0) {
            av_text_not(t, "a Content-Disposition that does not parse");
            goto out;
        }
        /* RFC 2183: an unknown disposition is treated as attachment. */
        if (!av_text_is(cd.type, cd.type_len, "inline")) {
            av_text_not(t, "an attachment");
            goto out;
        }
    }
    if (f->n_cte) {
        if (av_text_parse(f->cte, f->cte_len, 0, &cte) != 0) {
            av_text_not(t, "a Content-Transfer-Encoding that does not parse");
            goto out;
        }
    }
    if (f->n_ct == 0) {
        /* RFC 2046: text/plain, or message/rfc822 inside multipart/digest. */
        if (in_digest)
            av_text_not(t, "a message inside multipart/digest");
    } else if (av_text_parse(f->ct, f->ct_len, 1, &ct) != 0) {
        av_text_not(t, "a Content-Type that does not parse");
        goto out;
    }
    if (ct.named || cd.named) {
        av_text_not(t, "a part with a file name");
        goto out;
    }
    if (f->n_ct && av_text_is(ct.type, ct.type_len, "multipart")) {
        if (ct.n_boundary == 0 || ct.boundary.len == 0 || ct.boundary.len > AV_TEXT_MAX_BOUNDARY)
            av_text_not(t, "a multipart without a usable boundary");
        else if (f->n_cte && !av_text_is(cte.type, cte.type_len, "7bit")
                 && !av_text_is(cte.type, cte.type_len, "8bit") && !av_text_is(cte.type, cte.type_len, "binary"))
            av_text_not(t, "a multipart with a transfer encoding");
        else if (t->depth >= AV_TEXT_MAX_DEPTH)
            av_text_not(t, "multiparts nested too deep");
        else {
            str_reset(&t->boundary[t->depth]);
            str_add(&t->boundary[t->depth], ct.boundary.data, ct.boundary.len);
            t->level_parts[t->depth] = 0;
            t->level_digest[t->depth] = av_text_is(ct.sub, ct.sub_len, "digest");
            t->depth++;
        }
        goto out;
    }
    if (f->n_ct && !(av_text_is(ct.type, ct.type_len, "text")
                     && (av_text_is(ct.sub, ct.sub_len, "plain") || av_text_is(ct.sub, ct.sub_len, "html")))) {
        av_text_not(t, "a part that is not text/plain or text/html");
        goto out;
    }
    /* libclamav decodes uuencode and the like as files: only the usual encodings are text. */
    if (f->n_cte && !av_text_is(cte.type, cte.type_len, "7bit") && !av_text_is(cte.type, cte.type_len, "8bit")
        && !av_text_is(cte.type, cte.type_len, "binary") && !av_text_is(cte.type, cte.type_len, "quoted-printable")
        && !av_text_is(cte.type, cte.type_len, "base64"))
        av_text_not(t, "a text part with an unusual transfer encoding");
    else if (t->why == NULL) {
        /* A leaf: its body starts after this header block. */
        t->leaf_ready = 1;
        t->next_leaf.enc = !f->n_cte ? AV_TEXT_ENC_NONE
                           : av_text_is(cte.type, cte.type_len, "quoted-printable") ? AV_TEXT_ENC_QP
                           : av_text_is(cte.type, cte.type_len, "base64") ? AV_TEXT_ENC_BASE64
                           : AV_TEXT_ENC_NONE;
        t->next_leaf.html = f->n_ct && av_text_is(ct.sub, ct.sub_len, "html");
    }
out:
    str_free(&ct.boundary);
    str_free(&cd.boundary);
    str_free(&cte.boundary);
}

/* The leaf av_text_part found starts at body offset start. */
static void av_text_leaf_open(struct av_text *t, ssize_t start)
{
    if (!t->leaf_ready)
        return;
    t->leaf_ready = 0;
    t->leaf_open = 1;
    t->next_leaf.start = t->next_leaf.end = start;
}

/* The open leaf ends at body offset end. */
static void av_text_leaf_close(struct av_text *t, ssize_t end)
{
    if (!t->leaf_open)
        return;
    t->leaf_open = 0;
    t->next_leaf.end = end > t->next_leaf.start ? end : t->next_leaf.start;
    if (t->n_leaves == t->cap_leaves) {
        t->cap_leaves = t->cap_leaves ? 2 * t->cap_leaves : 4;
        t->leaves = mem_realloc(t->leaves, (ssize_t) t->cap_leaves * (ssize_t) sizeof(*t->leaves));
    }
    t->leaves[t->n_leaves++] = t->next_leaf;
}

/* Start from the message's header fields. */
void av_text_init(struct av_text *t, const struct msg_headers *hs)
{
    struct av_text_fields f;
    const struct msg_header *h;

    memset(t, 0, sizeof(*t));
    memset(&f, 0, sizeof(f));
    if ((h = msg_headers_find(hs, "Content-Type", 0)) != NULL) {
        f.ct = h->value;
        f.ct_len = h->value_len;
        f.n_ct = msg_headers_count(hs, "Content-Type");
    }
    if ((h = msg_headers_find(hs, "Content-Disposition", 0)) != NULL) {
        f.cd = h->value;
        f.cd_len = h->value_len;
        f.n_cd = msg_headers_count(hs, "Content-Disposition");
    }
    if ((h = msg_headers_find(hs, "Content-Transfer-Encoding", 0)) != NULL) {
        f.cte = h->value;
        f.cte_len = h->value_len;
        f.n_cte = msg_headers_count(hs, "Content-Transfer-Encoding");
    }
    av_text_part(t, &f, 0);
    av_text_leaf_open(t, 0);
}

/* The end of a part's header block: split it into fields, then decide. */
static void av_text_header_done(struct av_text *t)
{
    struct av_text_fields f;
    const char *s = t->header.data, *end = s + t->header.len;
    const char **val = NULL;
    ssize_t *vlen = NULL;
    int have_field = 0;

    memset(&f, 0, sizeof(f));
    t->in_header = 0;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t) (end - s)), *colon;
        const char *eol = nl ? nl : end;

        if (*s == ' ' || *s == '\t') {
            if (!have_field) {
                av_text_not(t, "a part header that starts with a continuation line");
                return;
            }
            if (val != NULL)
                *vlen = eol - *val;
        } else {
            const char *n;

            have_field = 1;
            colon = memchr(s, ':', (size_t) (eol - s));
            if (colon == NULL || colon == s) {
                av_text_not(t, "a line in a part header that is not a header field");
                return;
            }
            for (n = s; n < colon; n++)
                if ((unsigned char) *n <= 32 || (unsigned char) *n >= 127) {
                    av_text_not(t, "a line in a part header that is not a header field");
                    return;
                }
            val = NULL;
            vlen = NULL;
            if (av_text_is(s, colon - s, "Content-Type")) {
                f.n_ct++;
                val = &f.ct;
                vlen = &f.ct_len;
            } else if (av_text_is(s, colon - s, "Content-Disposition")) {
                f.n_cd++;
                val = &f.cd;
                vlen = &f.cd_len;
            } else if (av_text_is(s, colon - s, "Content-Transfer-Encoding")) {
                f.n_cte++;
                val = &f.cte;
                vlen = &f.cte_len;
            }
            if (val != NULL) {
                *val = colon + 1;
                *vlen = eol - *val;
            }
        }
        s = nl ? nl + 1 : end;
    }
    av_text_part(t, &f, t->level_digest[t->depth - 1]);
    av_text_leaf_open(t, t->next_off);
}

/* Only blanks. */
static int av_text_ws_only(const char *s, ssize_t n)
{
    for (ssize_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* A whole body line (n bytes kept, line end removed; longer if is_long). */
static void av_text_body_line(struct av_text *t, const char *s, ssize_t n, int is_long)
{
    int prefix_only = 0;

    /* Blocks that libclamav decodes into files wherever they are. */
    if ((av_text_starts(s, n, "begin ") && n > 6 && s[6] >= '0' && s[6] <= '7')
        || av_text_starts(s, n, "begin-base64 ")) {
        av_text_not(t, "a uuencoded block");
        return;
    }
    if (av_text_starts(s, n, "=ybegin")) {
        av_text_not(t, "a yEnc block");
        return;
    }
    if (av_text_starts(s, n, "(This file must be converted with BinHex")) {
        av_text_not(t, "a BinHex block");
        return;
    }
    if (t->depth == 0 || n < 2 || s[0] != '-' || s[1] != '-')
        return;
    /* The innermost boundary first: an outer one may be a prefix of it. */
    for (int i = t->depth - 1; i >= 0; i--) {
        const str *b = &t->boundary[i];
        const char *r;
        ssize_t rn;
        int close = 0;

        if (n - 2 < b->len || memcmp(s + 2, b->data, (size_t) b->len) != 0)
            continue;
        r = s + 2 + b->len;
        rn = n - 2 - b->len;
        if (rn >= 2 && r[0] == '-' && r[1] == '-') {
            close = 1;
            r += 2;
            rn -= 2;
        }
        if (is_long || !av_text_ws_only(r, rn)) {
            prefix_only = 1;
            continue;
        }
        if (i != t->depth - 1) {
            av_text_not(t, "an outer boundary inside an inner multipart");
            return;
        }
        /* The line end before the delimiter is part of it (RFC 2046). */
        av_text_leaf_close(t, t->line_off - t->prev_eol_len);
        if (close) {
            if (t->level_parts[i] == 0) {
                av_text_not(t, "a multipart without parts");
                return;
            }
            t->depth--;
            return;
        }
        if (++t->parts > AV_TEXT_MAX_PARTS) {
            av_text_not(t, "too many parts");
            return;
        }
        t->level_parts[i]++;
        t->in_header = 1;
        str_reset(&t->header);
        t->header_line = 0;
        return;
    }
    /* Readers that match boundaries loosely would see a part here. */
    if (prefix_only)
        av_text_not(t, "a line that starts with a boundary but is no delimiter");
}

/* The current line ended. */
static void av_text_line_end(struct av_text *t)
{
    if (t->in_header) {
        if (t->header.len > t->header_line && t->header.data[t->header.len - 1] == '\r')
            str_truncate(&t->header, t->header.len - 1);
        if (t->header.len == t->header_line) {
            av_text_header_done(t);
            return;
        }
        if (t->header.len + 1 > AV_TEXT_MAX_PART_HEADER) {
            av_text_not(t, "a part header too long");
            return;
        }
        str_addc(&t->header, '\n');
        t->header_line = t->header.len;
        return;
    }
    {
        ssize_t n = t->line.len;

        if (!t->line_long && n > 0 && t->line.data[n - 1] == '\r')
            n--;
        av_text_body_line(t, t->line.data ? t->line.data : "", n, t->line_long);
        str_reset(&t->line);
        t->line_long = 0;
    }
}

/* Part of a line. */
static void av_text_piece(struct av_text *t, const char *s, ssize_t n)
{
    if (t->in_header) {
        /* The block as kept has LF line ends; + 1 for a CR not yet removed. */
        if (t->header.len + n > AV_TEXT_MAX_PART_HEADER + 1) {
            av_text_not(t, "a part header too long");
            return;
        }
        str_add(&t->header, s, n);
        return;
    }
    if (t->line.len + n > AV_TEXT_LINE_KEEP) {
        str_add(&t->line, s, AV_TEXT_LINE_KEEP - t->line.len);
        t->line_long = 1;
    } else
        str_add(&t->line, s, n);
}

/* Body bytes. */
void av_text_feed(struct av_text *t, const void *data, ssize_t len)
{
    const char *p = data, *end = p + (len > 0 ? len : 0);

    while (t->why == NULL && p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));

        av_text_piece(t, p, (nl ? nl : end) - p);
        if (nl == NULL)
            break;
        t->eol_len = (nl > (const char *) data ? nl[-1] == '\r' : t->last_cr) ? 2 : 1;
        t->next_off = t->pos + (nl + 1 - (const char *) data);
        if (t->why == NULL)
            av_text_line_end(t);
        t->prev_eol_len = t->eol_len;
        t->line_off = t->next_off;
        p = nl + 1;
    }
    if (len > 0) {
        t->last_cr = ((const char *) data)[len - 1] == '\r';
        t->pos += len;
    }
}

/* End of body: the verdict. */
int av_text_end(struct av_text *t, const char **why)
{
    t->next_off = t->pos;
    if (t->why == NULL && (t->line.len > 0 || t->line_long || (t->in_header && t->header.len > t->header_line)))
        av_text_line_end(t);
    if (t->why == NULL && t->depth == 0)
        av_text_leaf_close(t, t->pos);
    if (t->why == NULL && t->in_header)
        av_text_not(t, "the message ends inside a part header");
    if (t->why == NULL && t->depth > 0)
        av_text_not(t, "a multipart that is not closed");
    if (why)
        *why = t->why;
    return t->why == NULL;
}

void av_text_free(struct av_text *t)
{
    for (int i = 0; i < AV_TEXT_MAX_DEPTH; i++)
        str_free(&t->boundary[i]);
    str_free(&t->line);
    str_free(&t->header);
    mem_free(t->leaves);
    t->leaves = NULL;
    t->n_leaves = t->cap_leaves = 0;
}

int av_text_leaves(const struct av_text *t, const struct av_text_leaf **leaves)
{
    *leaves = t->leaves;
    return t->why == NULL ? t->n_leaves : 0;
}
