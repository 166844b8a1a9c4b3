/*
 * check_av.c - virus scanning in the pipeline.
 *
 * The whole message (header fields as received, a blank line, the body)
 * goes into an av_buffer as it arrives (in memory up to
 * av_spill_threshold, then an unlinked temporary file) and is scanned
 * once at end of message by the one engine of the process (lib/av.c).
 * Infected: av_infected_action (reject, 554 5.7.0 with the signature
 * name). Not completely scannable (encrypted archive, a limit):
 * av_unscannable_action. Scanner failure and no database loaded:
 * av_error_action and av_unavailable_action, which can only be tempfail
 * or accept. An X-Virus-Scanned header names the engine and database.
 *
 * With av_skip_text_only or av_text_parts, the MIME structure is followed
 * as the body streams in (av_text_*, lib/av.c). With av_skip_text_only, a
 * message found to be text only is not handed to libclamav: the result is
 * "skipped" (accept), and X-Virus-Scanned says "skipped (text only)". The
 * message is buffered all the same, since only its end tells. With
 * av_text_parts (the default), a text-only message with text/plain parts
 * is scanned part by part from memory (av_scan_text_parts) rather than
 * through libclamav's mail parser, which writes each part to a temporary
 * file; the result and the header read the same.
 */
#include "config.h"

#include <string.h>

#include "av.h"
#include "check.h"
#include "core.h"
#include "log.h"
#include "mem.h"
#include "util.h"

struct av_state {
    struct av_buffer buf;
    struct av_text *text;       /* av_skip_text_only, av_text_parts: the MIME structure so far */
    ssize_t body_off;           /* where the body starts in buf */
    int headers_done;
    int scanned;                /* av_scan_now has run: report (or skipped) holds its outcome */
    int skipped;                /* text only and av_skip_text_only: not scanned */
    struct av_report report;
};

static int av_mode(const struct config *cfg)
{
    return cfg->av_mode;
}

/* A header field as it was on the wire: name, colon, value with CRLF folds. */
static void av_add_field(struct av_buffer *b, const struct msg_header *h)
{
    str f = STR_INIT;

    str_adds(&f, h->name);
    str_addc(&f, ':');
    for (ssize_t i = 0; i < h->value_len; i++) {
        if (h->value[i] == '\n' && (i == 0 || h->value[i - 1] != '\r'))
            str_addc(&f, '\r');
        str_addc(&f, h->value[i]);
    }
    str_adds(&f, "\r\n");
    av_buffer_add(b, f.data, f.len);
    str_free(&f);
}

/* End of headers: the header block starts the buffer. */
static void av_eoh(struct txn *t, int idx)
{
    struct av_state *s = mem_zalloc(sizeof(*s));

    av_buffer_init(&s->buf);
    for (int i = 0; i < t->headers.n; i++)
        av_add_field(&s->buf, &t->headers.h[i]);
    av_buffer_add(&s->buf, "\r\n", 2);
    s->body_off = (ssize_t) s->buf.len;
    if (t->cfg->av_skip_text_only || t->cfg->av_text_parts) {
        s->text = mem_alloc(sizeof(*s->text));
        av_text_init(s->text, &t->headers);
    }
    s->headers_done = 1;
    t->check_state[idx] = s;
}

static void av_body(struct txn *t, int idx, const unsigned char *data, ssize_t len)
{
    struct av_state *s = t->check_state[idx];

    if (s) {
        av_buffer_add(&s->buf, data, len);
        if (s->text)
            av_text_feed(s->text, data, len);
    }
}

/* A text-only message is not scanned: say so in the verdict, header and log. */
static void av_skip(struct txn *t, int monitor)
{
    const struct config *cfg = t->cfg;
    str hdr = STR_INIT;
    char host[256];

    verdict_add(&t->verdict, "av", "skipped", VERDICT_ACCEPT, 0, monitor, NULL, NULL, "text only, not scanned");
    if (cfg->av_header) {
        str_addc(&hdr, ' ');
        av_engine_describe(&hdr);
        str_addf(&hdr, " on %s; skipped (text only)", core_hostname(cfg, host, sizeof(host)));
        txn_add_edit(t, TXN_EDIT_ADD, "X-Virus-Scanned", 0, str_cstr(&hdr));
    }
    log_debug("av: queue_id=%s not scanned: text only", str_cstr(&t->queue_id));
    str_free(&hdr);
}

/* End of message, before the checks that wait for DNS answers: scan. */
static void av_scan_now(struct txn *t, int idx)
{
    struct av_state *s = t->check_state[idx];
    const struct config *cfg = t->cfg;
    int text_only = 0;

    if (s == NULL || s->scanned)
        return;
    s->scanned = 1;
    av_report_init(&s->report);
    if (s->text) {
        const char *why;

        text_only = av_text_end(s->text, &why);
        if (text_only && cfg->av_skip_text_only) {
            s->skipped = 1;
            return;
        }
        if (!text_only)
            log_debug("av: queue_id=%s scanned whole: not text only (%s)", str_cstr(&t->queue_id), why);
    }
    if (!text_only || !cfg->av_text_parts || !av_scan_text_parts(&s->buf, s->body_off, s->text, &s->report))
        av_scan_buffer(&s->buf, &s->report);
}

/* End of message: the scan's outcome into the verdict, header and log. */
static void av_eom(struct txn *t, int idx, int monitor)
{
    struct av_state *s = t->check_state[idx];
    const struct config *cfg = t->cfg;
    const struct av_report *rp;
    str reason = STR_INIT, hdr = STR_INIT, detail = STR_INIT;
    int action = VERDICT_ACCEPT, temporary = 0;
    const char *rcode = NULL, *xcode = NULL;
    char host[256];

    if (s == NULL)
        return;
    av_scan_now(t, idx);
    if (s->skipped) {
        av_skip(t, monitor);
        return;
    }
    rp = &s->report;
    verdict_sanitize(&detail, str_cstr(&rp->detail), rp->detail.len, 128);
    switch (rp->result) {
    case AV_INFECTED:
        action = cfg->av_infected_action;
        rcode = "554", xcode = "5.7.0";
        str_addf(&reason, "Virus found: %s", str_cstr(&detail));
        break;
    case AV_UNSCANNABLE:
        action = cfg->av_unscannable_action;
        rcode = "554", xcode = "5.7.0";
        str_addf(&reason, "Message could not be scanned (%s: %s)", av_reason_name(rp->reason), str_cstr(&detail));
        break;
    case AV_ERROR:
        action = cfg->av_error_action;
        temporary = 1;
        str_addf(&reason, "Virus scanner error, try again later");
        break;
    case AV_UNAVAILABLE:
        action = cfg->av_unavailable_action;
        temporary = 1;
        str_addf(&reason, "Virus scanner not ready, try again later");
        break;
    case AV_CLEAN:
        str_adds(&reason, "clean");
        break;
    }
    verdict_add(&t->verdict, "av", av_result_name(rp->result), (enum verdict_action) action, temporary, monitor,
                temporary ? "451" : rcode, temporary ? "4.7.1" : xcode, str_cstr(&reason));
    if (cfg->av_header) {
        str_addc(&hdr, ' ');
        av_engine_describe(&hdr);
        str_addf(&hdr, " on %s; %s", core_hostname(cfg, host, sizeof(host)), av_result_name(rp->result));
        if (rp->result == AV_INFECTED || rp->result == AV_UNSCANNABLE)
            str_addf(&hdr, " (%s)", str_cstr(&detail));
        txn_add_edit(t, TXN_EDIT_ADD, "X-Virus-Scanned", 0, str_cstr(&hdr));
    }
    if (rp->result != AV_CLEAN)
        log_info("av: queue_id=%s result=%s detail=%s scan=%lldms", str_cstr(&t->queue_id),
                 av_result_name(rp->result), str_cstr(&detail), (long long) rp->elapsed_ms);
    str_free(&reason);
    str_free(&hdr);
    str_free(&detail);
}

static void av_reset(struct txn *t, int idx)
{
    struct av_state *s = t->check_state[idx];

    av_buffer_free(&s->buf);
    if (s->scanned)
        av_report_free(&s->report);
    if (s->text) {
        av_text_free(s->text);
        mem_free(s->text);
    }
    mem_free(s);
    t->check_state[idx] = NULL;
}

const struct check check_av = {
    .name = "av",
    .mode = av_mode,
    .eoh = av_eoh,
    .body = av_body,
    .eom_first = av_scan_now,
    .eom = av_eom,
    .reset = av_reset,
};
