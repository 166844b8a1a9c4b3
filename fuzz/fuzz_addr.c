/*
 * fuzz_addr.c - the From field parser (addr_parse) and the MAIL FROM path
 * parser (addr_path_domain).
 *
 * Each part of the input ("%%" lines between them) is one From field
 * value, all appended to one list as for a message with several From
 * fields; the whole input is also read as a reverse-path. Checked: an
 * error appends nothing and says why; the list stays within
 * ADDR_MAX_ADDRESSES; every mailbox has its strings (no line end in a
 * display name or local-part), domains (literals aside) in lower case
 * without control bytes and valid UTF-8; a path's domain likewise.
 */
#include "config.h"

#include "addr.h"
#include "fuzz.h"
#include "str.h"

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    return 0;
}

/*
 * A domain as the parsers promise it: no control byte, UTF-8, and no
 * upper-case ASCII unless it is a literal ("[IPv6:...]" is kept as sent).
 */
static void check_domain(const char *d, ssize_t len)
{
    for (ssize_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) d[i];

        FUZZ_ASSERT(c >= 0x20 && c != 0x7f);
        FUZZ_ASSERT(d[0] == '[' || !(c >= 'A' && c <= 'Z'));
    }
    FUZZ_ASSERT(addr_utf8_valid(d, len));
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[FUZZ_MAX_PARTS];
    int nparts = fuzz_split(data, size, parts, FUZZ_MAX_PARTS);
    struct addr_list l;
    str dom = STR_INIT;
    const char *why = NULL;
    enum addr_status st;

    addr_list_init(&l);
    for (int k = 0; k < nparts; k++) {
        int before = l.n;

        st = addr_parse(&l, parts[k].p, (ssize_t) parts[k].n);
        FUZZ_ASSERT(addr_status_name(st) != NULL);
        if (st != ADDR_OK) {
            FUZZ_ASSERT(l.n == before);
            if (st != ADDR_EMPTY)
                FUZZ_ASSERT(l.error != NULL);
            continue;
        }
        FUZZ_ASSERT(l.n > before && l.n <= ADDR_MAX_ADDRESSES);
        for (int i = before; i < l.n; i++) {
            const struct addr *a = &l.a[i];

            FUZZ_ASSERT(a->display != NULL && a->local != NULL);
            for (const char *c = a->display; *c; c++)
                FUZZ_ASSERT((unsigned char) *c >= 0x20 || *c == '\t');
            FUZZ_ASSERT(strpbrk(a->local, "\r\n") == NULL);
            if (a->domain)
                check_domain(a->domain, (ssize_t) strlen(a->domain));
            FUZZ_ASSERT(!a->literal || (a->domain && a->domain[0] == '['));
        }
    }
    addr_list_free(&l);

    st = addr_path_domain((const char *) data, (ssize_t) size, &dom, &why);
    if (st == ADDR_OK) {
        FUZZ_ASSERT((size_t) dom.len <= size);
        check_domain(dom.data ? dom.data : "", dom.len);
    } else {
        FUZZ_ASSERT(why != NULL);
    }
    str_free(&dom);
    (void) addr_utf8_valid((const char *) data, (ssize_t) size);
    return 0;
}
