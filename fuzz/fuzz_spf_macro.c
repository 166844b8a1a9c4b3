/*
 * fuzz_spf_macro.c - SPF macro-strings (spf_macro_check,
 * spf_macro_expand) and the name rules around them (spf_name_finish,
 * spf_name_escape, spf_domain_checkable, spf_sanitize).
 *
 * Byte 0 is flags (domain-spec, explanation, truncate, IPv6 client, %{p}
 * unknown), byte 1 the output limit; the rest has parts ("%%" lines
 * between them): the macro-string, the sender's local part and domain
 * (any bytes: a hostile sender). Checked: expansion refuses exactly what
 * the syntax check refuses, stays within its limit (and cuts there when
 * truncating), and a finished name may be asked of DNS; sanitised text is
 * printable ASCII.
 */
#include "config.h"

#include <arpa/inet.h>

#include "dns.h"
#include "fuzz.h"
#include "spf.h"
#include "str.h"

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    return 0;
}

/* %{p}: a fixed validated name, or none. */
static const char *ptr_name(void *arg, const char *domain)
{
    (void) domain;
    return arg;
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char ip4[4] = { 192, 0, 2, 3 };
    static const unsigned char ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xcb, 0x01 };
    struct fuzz_part in = { (const char *) data, size }, parts[3] = { { "", 0 }, { "", 0 }, { "", 0 } };
    unsigned flags = fuzz_byte(&in), mb = fuzz_byte(&in);
    int np = fuzz_split((const uint8_t *) in.p, in.n, parts, 3);
    char *local = fuzz_cstr(&parts[1]), *domain = fuzz_cstr(&parts[2]);
    int mflags = (flags & 1 ? SPF_MACRO_DOMAIN : 0) | (flags & 2 ? SPF_MACRO_EXPLAIN : 0);
    int truncate = (flags & 4) != 0;
    ssize_t max = mb < 250 ? (ssize_t) mb * 4 : 100000;
    struct spf_macro_env env;
    str sender = STR_INIT, out = STR_INIT, name = STR_INIT, esc = STR_INIT, clean = STR_INIT;
    int check, rc;

    (void) np;
    str_addf(&sender, "%s@%s", local, domain);
    memset(&env, 0, sizeof(env));
    env.sender = str_cstr(&sender);
    env.local = local;
    env.sender_domain = domain;
    env.domain = (flags & 0x20) ? domain : "email.example.com";
    env.helo = "helo.example.org";
    env.receiver = "mx.example.net";
    env.family = (flags & 8) ? AF_INET6 : AF_INET;
    env.ip = (flags & 8) ? ip6 : ip4;
    env.ptr_name = ptr_name;
    env.ptr_arg = (flags & 0x10) ? NULL : (void *) "mail.example.com";

    check = spf_macro_check(parts[0].p, (ssize_t) parts[0].n, mflags);
    FUZZ_ASSERT(check == 0 || check == -1);
    str_adds(&out, "prefix.");      /* the limit counts from what is there */
    rc = spf_macro_expand(&env, parts[0].p, (ssize_t) parts[0].n, mflags, max, truncate, &out);
    FUZZ_ASSERT(rc == 0 || rc == -1 || rc == -2);
    FUZZ_ASSERT((rc == -1) == (check == -1));
    FUZZ_ASSERT(out.len <= 7 + max);
    FUZZ_ASSERT(!truncate || rc != -2);
    if (rc == -1)
        FUZZ_ASSERT(out.len == 7);
    if (rc == 0 && (mflags & SPF_MACRO_DOMAIN)) {
        str_add(&name, out.data + 7, out.len - 7);
        if (spf_name_finish(&name) == 0) {
            FUZZ_ASSERT(name.len >= 1 && name.len <= 253);
            FUZZ_ASSERT(memchr(name.data, '\0', (size_t) name.len) == NULL);
            if (spf_name_escape(&esc, name.data, name.len) == 0)
                FUZZ_ASSERT(dns_name_valid(str_cstr(&esc)));
        }
    }
    (void) spf_domain_checkable(domain);
    spf_sanitize(&clean, parts[0].p, (ssize_t) parts[0].n, max);
    FUZZ_ASSERT(fuzz_printable(clean.data, clean.len));
    FUZZ_ASSERT(clean.len <= max + 3);

    free(local);
    free(domain);
    str_free(&sender);
    str_free(&out);
    str_free(&name);
    str_free(&esc);
    str_free(&clean);
    return 0;
}
