/*
 * av.h - in-process virus scanning of whole messages with libclamav.
 *
 * One signature engine per process, shared by every connection. Scans take
 * a reference to the current engine and never wait for a reload: a reload
 * builds a new engine beside the old one and swaps it in; the old engine is
 * freed when its last scan ends. See av.c for the details.
 */
#ifndef RAMPART_AV_H
#define RAMPART_AV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"
#include "str.h"

#define AV_DEFAULT_DATABASE_DIR "/var/lib/clamav"
#define AV_DEFAULT_MAX_SCAN_SIZE (100LL * 1024 * 1024)
#define AV_DEFAULT_MAX_FILE_SIZE (25LL * 1024 * 1024)
#define AV_DEFAULT_MAX_RECURSION 17
#define AV_DEFAULT_MAX_FILES 10000
#define AV_DEFAULT_MAX_SCAN_TIME_MS 60000
#define AV_DEFAULT_SPILL_THRESHOLD (1024LL * 1024)
#define AV_DEFAULT_SELF_CHECK_MS 60000

/* Set up by the caller from the configuration; av_options_defaults() first. */
struct av_options {
    const char *database_dir;   /* signature databases (cl_load on the directory) */
    const char *temp_dir;       /* libclamav's temporary files and spilled messages;
                                   NULL or "" = $TMPDIR, else /tmp */
    int64_t max_scan_size;      /* bytes scanned per message, extracted data included */
    int64_t max_file_size;      /* largest message or embedded file scanned, bytes */
    int max_recursion;          /* nesting depth of containers (MIME, archives) */
    int max_files;              /* files extracted per container */
    int max_scan_time_ms;       /* time spent on one message */
    int concurrent_reload;      /* 1: build the new engine beside the old one (twice
                                   the memory during a reload); 0: free the old
                                   engine first, scans return AV_UNAVAILABLE meanwhile */
    int disable_cache;          /* 1: no clean-file cache (benchmarks only) */
    int64_t spill_threshold;    /* struct av_buffer keeps this many bytes in memory,
                                   then moves to an unlinked file in temp_dir */
};

/* The closed set of scan outcomes. */
enum av_result {
    AV_CLEAN,        /* scanned completely, nothing found */
    AV_INFECTED,     /* a signature matched: detail = its name */
    AV_UNSCANNABLE,  /* not scanned completely: encrypted archive or a scan limit hit;
                        detail = libclamav's alert name, reason says which */
    AV_ERROR,        /* scanner failure (temporary files, memory, I/O): detail says why */
    AV_UNAVAILABLE,  /* no signature database loaded (missing, or a blocking reload) */
};

/* Why a message is AV_UNSCANNABLE. */
enum av_reason {
    AV_REASON_NONE,
    AV_REASON_ENCRYPTED,  /* an encrypted archive */
    AV_REASON_LIMIT,      /* size, recursion, file count or scan time limit */
};

struct av_report {
    enum av_result result;
    enum av_reason reason;
    str detail;                 /* see enum av_result; empty for AV_CLEAN */
    int64_t scanned_bytes;      /* as counted by libclamav, in 4 KiB steps; 0 when it
                                   stopped at a match */
    int64_t elapsed_ms;
    unsigned int generation;    /* which load of the database scanned it (0 = none) */
};

/* The loaded engine, for an X-Virus-Scanned style header and for logs. */
struct av_engine_info {
    int loaded;                 /* 0: no database, scans return AV_UNAVAILABLE */
    const char *version;        /* libclamav version, e.g. "1.4.6" (static) */
    unsigned int signatures;    /* signatures loaded */
    unsigned int db_version;    /* version of the newest official database, 0 = unknown */
    int64_t db_time;            /* its build time (Unix time), 0 = unknown */
    int64_t loaded_at;          /* Unix time of the last successful load, 0 = never */
    int64_t load_ms;            /* how long that load and compile took */
    unsigned int generation;    /* successful loads so far */
};

/*
 * A message being received: in memory up to the spill threshold, then in an
 * unlinked temporary file. Bytes past the file size limit are counted but not
 * kept (the scan then reports AV_UNSCANNABLE unless the kept part is infected).
 */
struct av_buffer {
    str mem;
    int fd;                     /* -1 while in memory */
    int64_t len;                /* bytes kept */
    int64_t total;              /* bytes offered */
    int64_t spill_threshold;
    int64_t max_len;
    char *temp_dir;
    int error;                  /* errno of a failed spill or write (sticky), 0 = none */
};

void av_options_defaults(struct av_options *o);

/*
 * Load the databases and compile the engine. Returns 0 when the scanner is
 * set up, even without a usable database (logged; scans return
 * AV_UNAVAILABLE until a reload succeeds); -1 on invalid options, when
 * libclamav cannot start, or when the system gives no random bytes (for
 * the first line text-only messages are scanned with; logged): the
 * daemon does not start. Call once, before threads scan.
 */
int av_init(const struct av_options *o);
/* Stop the watch thread and drop the engine (scans in flight finish first). */
void av_shutdown(void);

/*
 * Load the databases again into a new engine and swap it in. o = NULL keeps
 * the options; new options (limits, directories) take effect with the new
 * engine. Returns 0 on success; -1 when the database did not load (logged;
 * with concurrent reload the old engine stays). Blocks for the load; one
 * reload runs at a time.
 */
int av_reload(const struct av_options *o);
/* 1 if the database directory changed since the last load attempt, else 0. */
int av_check_changed(void);
/*
 * Start the background thread that reloads when the database directory
 * changes (checked every interval_ms; 0 = no periodic check) or when
 * av_request_reload() asks. Returns 0, or -1 if the thread cannot start.
 */
int av_start_watch(int interval_ms);
void av_stop_watch(void);
/* Ask the watch thread to reload soon and return at once; without a watch
   thread, reload here. Not for signal handlers (takes locks). */
void av_request_reload(void);

void av_engine_info(struct av_engine_info *info);
/* "ClamAV 1.4.6/27467/Wed Nov 20 09:34:12 2024", or with the signature count
   when no official database version is known; appended to out. */
void av_engine_describe(str *out);

void av_report_init(struct av_report *r);
void av_report_free(struct av_report *r);

/* Scan a whole message (header fields, blank line, body) held in memory.
   Every scan function resets r (av_report_init it once) and returns r->result. */
enum av_result av_scan_mem(const void *msg, ssize_t len, struct av_report *r);
/* Scan a whole message in an open file, from offset 0 to its size. */
enum av_result av_scan_fd(int fd, struct av_report *r);
enum av_result av_scan_file(const char *path, struct av_report *r);
enum av_result av_scan_buffer(const struct av_buffer *b, struct av_report *r);

/* Set up an empty buffer with the spill threshold, size limit and temp_dir in force. */
void av_buffer_init(struct av_buffer *b);
/* Append a chunk; -1 once spilling or writing failed (logged once; the scan
   then reports AV_ERROR), else 0. */
int av_buffer_add(struct av_buffer *b, const void *data, ssize_t len);
/* Release memory and the temporary file; init again to reuse. */
void av_buffer_free(struct av_buffer *b);

/*
 * Whether a message is text only, decided from its MIME structure as the
 * body streams in, for av_skip_text_only and av_text_parts: every leaf part is text/plain or
 * text/html with no name or filename parameter and no Content-Disposition
 * but inline, and no line starts a uuencoded, yEnc or BinHex block.
 * Anything else counts as not text only, and so does a structure that is
 * broken, ambiguous (a line that starts with a boundary but is not a
 * delimiter) or past a limit below: then the message is scanned. The cost
 * is one look at each line's start; nothing is decoded. Bounded memory:
 * one part's header block, the start of the current line, the boundaries.
 */
#define AV_TEXT_MAX_DEPTH 16            /* nested multiparts */
#define AV_TEXT_MAX_PARTS 1000          /* parts in the whole message */
#define AV_TEXT_MAX_BOUNDARY 200        /* bytes of a boundary (RFC 2046: 70) */
#define AV_TEXT_MAX_PART_HEADER 16384   /* bytes of one part's header block */

/* How a text part's body is encoded. */
enum av_text_enc {
    AV_TEXT_ENC_NONE,           /* 7bit, 8bit, binary or no Content-Transfer-Encoding */
    AV_TEXT_ENC_QP,
    AV_TEXT_ENC_BASE64,
};

/* A leaf text part: where its body is (offsets in the message body; the
   line end before its closing delimiter belongs to the delimiter). */
struct av_text_leaf {
    ssize_t start, end;
    enum av_text_enc enc;
    int html;                   /* text/html, else text/plain */
};

struct av_text {
    const char *why;            /* NULL: text only so far; else why not (static text) */
    int depth;                  /* open multiparts */
    int parts;                  /* parts seen, every level */
    int in_header;              /* reading a part's header block */
    int digest;                 /* the innermost multipart is multipart/digest */
    str boundary[AV_TEXT_MAX_DEPTH];
    int level_parts[AV_TEXT_MAX_DEPTH];
    int level_digest[AV_TEXT_MAX_DEPTH];
    str line;                   /* start of the current body line */
    int line_long;              /* the current line is longer than kept */
    str header;                 /* the part header block being read */
    ssize_t header_line;        /* where its current line starts */
    /* Where the leaf parts are, for av_scan_text_parts. */
    ssize_t pos;                /* body bytes fed */
    ssize_t line_off;           /* where the current line starts */
    ssize_t next_off;           /* where the line after it starts */
    int eol_len, prev_eol_len;  /* line end of the current and the previous line: 1 or 2 */
    int last_cr;                /* the last byte fed was a CR */
    int leaf_ready;             /* av_text_part found a leaf: open it */
    struct av_text_leaf next_leaf;
    int leaf_open;
    struct av_text_leaf *leaves;
    int n_leaves, cap_leaves;
};

/* Start with the message's header fields (Content-Type, Content-Disposition). */
void av_text_init(struct av_text *t, const struct msg_headers *hs);
/* The body, in chunks of any size (CRLF or LF line ends). */
void av_text_feed(struct av_text *t, const void *data, ssize_t len);
/* End of body: 1 if the message is text only, else 0 with why set (static text). */
int av_text_end(struct av_text *t, const char **why);
void av_text_free(struct av_text *t);
/* After av_text_end said text only: the leaf parts, in order; their count. */
int av_text_leaves(const struct av_text *t, const struct av_text_leaf **leaves);
/* Append a leaf's body (body = the message body) to out as av_scan_text_parts
   scans it (decoded, lines ended with LF): -1 if its encoding does not
   decode cleanly, else 0. */
int av_text_leaf_decode(const struct av_text_leaf *l, const void *body, str *out);

/*
 * Scan a text-only message (av_text_end said so) part by part instead of
 * through libclamav's mail parser, which writes every part to a temporary
 * file: the whole message once as it is, with mail parsing off (signatures
 * for mail files and for any file; a random first line in front so that
 * libclamav's clean-file cache never answers for other scans), then the
 * body of each text part as libclamav's mail parser hands it on: decoded,
 * each line ended with a bare LF. body_off is where
 * the body starts in the buffer. Returns 1 with r filled in; 0 (r
 * untouched) when the message is not fit for it, and the caller scans it
 * whole: the buffer spilled to a file, an HTML part (libclamav's mail
 * parser checks its links against phishing signatures), more than
 * AV_TEXT_SCAN_MAX_PARTS parts, or an encoding that does not decode
 * cleanly (quoted-printable with a bare "=", base64 with stray characters
 * or padding inside).
 */
#define AV_TEXT_SCAN_MAX_PARTS 8
int av_scan_text_parts(const struct av_buffer *b, ssize_t body_off, const struct av_text *t, struct av_report *r);

const char *av_result_name(enum av_result r);
const char *av_reason_name(enum av_reason r);

#endif
