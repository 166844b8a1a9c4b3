/*
 * fuzz_msg.c - the header collector: msg_split (a stored message into
 * fields and body) and txn_header (the transaction's bounded collector,
 * with forged Authentication-Results recognition), up to end of message.
 *
 * The input is a whole message. The configuration is small: ten fields of
 * at most 1 KiB, 4 KiB in all, every check off but the limits, so the
 * limits are reached often. Checked: fields have a printable name without
 * a colon and folds only as LF + white space, the body offset is inside
 * the input, the collector keeps its limits, Authentication-Results
 * deletions name fields that were seen, and our own Authentication-Results
 * value has no line end but its "\n\t" folds. The MIME reading of
 * av_skip_text_only and av_text_parts (av_text_*) runs over the body whole
 * and in pieces (sizes from the input): the same verdict and the same text
 * parts, which lie in the body in order and decode without reading past
 * them (text gains at most the last line end); base64 decodes to at most
 * 3/4 of its length.
 */
#include "config.h"

#include "av.h"
#include "fuzz.h"
#include "msg.h"
#include "rconfig.h"
#include "str.h"
#include "txn.h"
#include "util.h"

struct collect {
    struct msg_headers hs;
    int ar;                    /* Authentication-Results fields */
};

/* Called by msg_split for each field. */
static void field(const char *name, const char *value, ssize_t value_len, void *arg)
{
    struct collect *c = arg;
    size_t nlen = strlen(name);

    FUZZ_ASSERT(nlen > 0 && value_len >= 0);
    for (size_t i = 0; i < nlen; i++)
        FUZZ_ASSERT(name[i] > 0x20 && name[i] < 0x7f && name[i] != ':');
    FUZZ_ASSERT(value[value_len] == '\0');
    for (ssize_t i = 0; i < value_len; i++)
        if (value[i] == '\n')
            FUZZ_ASSERT(i + 1 < value_len && (value[i + 1] == ' ' || value[i + 1] == '\t'));
    c->ar += ascii_casecmp(name, "Authentication-Results") == 0;
    msg_headers_add(&c->hs, name, value, value_len);
}

/* Set a parameter if this build has it (checks come and go). */
static void set(struct config *c, const char *name, const char *value)
{
    str err = STR_INIT;

    (void) config_set(c, name, value, "fuzz", &err);
    str_free(&err);
}

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct config *c = config_defaults();

    (void) argc;
    (void) argv;
    fuzz_quiet();
    for (int i = 0; i < config_param_count(); i++) {
        const char *name = config_param_name(i);
        size_t n = strlen(name);

        if (n > 5 && strcmp(name + n - 5, "_mode") == 0 && strcmp(name, "limits_mode") != 0)
            set(c, name, "off");
    }
    set(c, "max_header_count", "10");
    set(c, "max_header_size", "1k");
    set(c, "max_headers_size", "4k");
    set(c, "max_message_size", "64k");
    set(c, "authserv_id", "mx.example.net");
    set(c, "trusted_networks", "");
    config_install(c);
    return 0;
}

/* av_text over body (len bytes) in pieces of step bytes (0 = whole): text only? leaves in out. */
static int text_run(const struct msg_headers *hs, const uint8_t *body, ssize_t len, ssize_t step,
                    struct av_text *t)
{
    av_text_init(t, hs);
    for (ssize_t off = 0; off < len; off += step ? step : len)
        av_text_feed(t, body + off, step && len - off > step ? step : len - off);
    return av_text_end(t, NULL);
}

/* The MIME reading for the scanner: whole and in pieces alike; parts inside the body, in order. */
static void check_text(const struct msg_headers *hs, const uint8_t *body, ssize_t len, ssize_t step)
{
    struct av_text a, b;
    const struct av_text_leaf *la, *lb;
    int ta = text_run(hs, body, len, 0, &a), tb = text_run(hs, body, len, step, &b);
    int na = av_text_leaves(&a, &la), nb = av_text_leaves(&b, &lb);
    ssize_t prev = 0;

    FUZZ_ASSERT(ta == tb && na == nb);
    FUZZ_ASSERT(ta || na == 0);
    for (int i = 0; i < na; i++) {
        str out = STR_INIT;

        FUZZ_ASSERT(la[i].start == lb[i].start && la[i].end == lb[i].end && la[i].enc == lb[i].enc);
        FUZZ_ASSERT(la[i].start >= prev && la[i].start <= la[i].end && la[i].end <= len);
        prev = la[i].end;
        /* Text gets a line end after its last line if it had none. */
        if (av_text_leaf_decode(&la[i], body, &out) == 0)
            FUZZ_ASSERT(out.len <= la[i].end - la[i].start + 1);
        if (la[i].enc == AV_TEXT_ENC_BASE64)
            FUZZ_ASSERT(out.len <= (la[i].end - la[i].start) * 3 / 4);
        str_free(&out);
    }
    av_text_free(&a);
    av_text_free(&b);
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct collect c;
    struct txn t;
    ssize_t body;
    int inserted = 0;

    memset(&c, 0, sizeof(c));
    msg_headers_init(&c.hs);
    body = msg_split((const char *) data, (ssize_t) size, field, &c);
    FUZZ_ASSERT(body >= 0 && (size_t) body <= size);
    FUZZ_ASSERT(msg_headers_count(&c.hs, "Authentication-Results") == c.ar);
    check_text(&c.hs, data + body, (ssize_t) size - body, 1 + (ssize_t) (size > 0 ? data[0] % 13 : 0));

    txn_init(&t);
    txn_set_client(&t, "192.0.2.1", "client.example.org");
    txn_set_helo(&t, "client.example.org");
    txn_mail(&t, "<a@example.org>", NULL);
    txn_rcpt(&t, "<b@example.net>");
    for (int i = 0; i < c.hs.n; i++)
        txn_header(&t, c.hs.h[i].name, c.hs.h[i].value, c.hs.h[i].value_len);
    FUZZ_ASSERT(t.ar_seen == c.ar);
    FUZZ_ASSERT(t.headers.n <= 10 && t.headers.bytes <= 4096);
    FUZZ_ASSERT(t.headers.n == c.hs.n || t.limit != TXN_LIMIT_NONE);
    txn_eoh(&t);
    txn_body(&t, data + body, (ssize_t) size - body);
    txn_eom(&t);
    for (int i = 0; i < t.nedits; i++) {
        const struct txn_edit *e = &t.edits[i];

        if (e->op == TXN_EDIT_DELETE) {
            FUZZ_ASSERT(ascii_casecmp(e->name, "Authentication-Results") == 0);
            FUZZ_ASSERT(e->index >= 1 && e->index <= c.ar);
        }
        if (e->op == TXN_EDIT_INSERT && strcmp(e->name, "Authentication-Results") == 0) {
            inserted++;
            for (const char *v = e->value; *v; v++) {
                FUZZ_ASSERT(*v != '\r');
                if (*v == '\n')
                    FUZZ_ASSERT(v[1] == '\t');
            }
        }
    }
    FUZZ_ASSERT(inserted <= 1);
    txn_free(&t);
    msg_headers_free(&c.hs);
    return 0;
}
