/*
 * fuzz_authres.c - Authentication-Results: recognising a received one
 * (authres_parse_id, authres_is_ours_or_bad) and rendering ours
 * (authres_format) from hostile property values.
 *
 * Parts ("%%" lines between them): 0 a received header value; 1 our
 * authserv-id; each further part one result, its lines being the result
 * word, a reason ("-" for none) and property values. Checked: a parsed id
 * is non-empty; a value with a NUL or without an id is always removed;
 * ours has no CR, LF only in "\n\t" folds, only printable ASCII otherwise,
 * no line longer than 998 characters with "Authentication-Results:" before
 * the first (RFC 5322 2.1.1), parses back to our id and would be removed
 * as ours.
 */
#include "config.h"

#include "authres.h"
#include "fuzz.h"
#include "str.h"
#include "util.h"

static const char *const methods[] = { "spf", "dkim", "dmarc", "iprev", "auth", "arc", "dnsbl" };
static const char *const props[] = { "smtp.mailfrom", "smtp.helo", "header.from", "header.d",
                                     "header.i", "header.s", "header.b", "policy.dmarc" };

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    return 0;
}

/* Add one result made from the lines of part. */
static void add_result(struct authres *ar, struct fuzz_part part)
{
    unsigned sel = fuzz_byte(&part);
    char *text = fuzz_cstr(&part), *line, *save = NULL;
    struct authres_result *r = NULL;
    char *word = NULL, *reason = NULL;
    int k = 0;

    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), k++) {
        if (k == 0) {
            word = line;
        } else if (k == 1) {
            reason = strcmp(line, "-") == 0 ? NULL : line;
            r = authres_add(ar, methods[sel % NELEM(methods)], word, reason);
        } else {
            authres_prop(r, props[(sel + (unsigned) k) % NELEM(props)], line);
        }
    }
    if (k == 1)
        (void) authres_add(ar, methods[sel % NELEM(methods)], word, NULL);
    free(text);
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[FUZZ_MAX_PARTS];
    int nparts = fuzz_split(data, size, parts, FUZZ_MAX_PARTS);
    char *id = nparts > 1 ? fuzz_cstr(&parts[1]) : strdup("mx.example.net");
    str out = STR_INIT, parsed = STR_INIT;
    struct authres ar;
    ssize_t line_len;
    int rc;

    /* A received header. */
    rc = authres_parse_id(parts[0].p, (ssize_t) parts[0].n, &parsed);
    if (rc == 0)
        FUZZ_ASSERT(parsed.len > 0);
    if (rc != 0 || memchr(parts[0].p, '\0', parts[0].n) != NULL)
        FUZZ_ASSERT(authres_is_ours_or_bad(parts[0].p, (ssize_t) parts[0].n, id) == 1);
    else
        FUZZ_ASSERT(authres_is_ours_or_bad(parts[0].p, (ssize_t) parts[0].n, id)
                    == (ascii_casecmp(str_cstr(&parsed), id) == 0));

    /* Ours. */
    authres_init(&ar);
    for (int k = 2; k < nparts; k++)
        add_result(&ar, parts[k]);
    FUZZ_ASSERT(ar.n <= AUTHRES_MAX_RESULTS);
    authres_format(&ar, id, &out);
    line_len = (ssize_t) strlen("Authentication-Results:");
    for (ssize_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char) out.data[i];

        FUZZ_ASSERT(c != '\r' && c != '\0');
        if (c == '\n') {
            FUZZ_ASSERT(i + 1 < out.len && out.data[i + 1] == '\t');
            line_len = 0;
            continue;
        }
        if (c != '\t')
            FUZZ_ASSERT(c >= 0x20 && c < 0x7f);
        FUZZ_ASSERT(++line_len <= 998);
    }
    /* An id an administrator can write comes back from our own header, and marks it ours. */
    if (id[0] != '\0' && strlen(id) <= 200 && fuzz_printable(id, (ssize_t) strlen(id))) {
        FUZZ_ASSERT(authres_parse_id(out.data, out.len, &parsed) == 0);
        FUZZ_ASSERT(strcmp(str_cstr(&parsed), id) == 0);
        FUZZ_ASSERT(authres_is_ours_or_bad(out.data, out.len, id) == 1);
    }
    authres_free(&ar);
    str_free(&out);
    str_free(&parsed);
    free(id);
    return 0;
}
