/*
 * test_dkim.c - DKIM verification: signatures made here with libopendkim's
 * signing API and keys generated at start with libcrypto (RSA 2048, 1024,
 * 512, Ed25519), published through the DNS fixture; the RFC 8463 example
 * message from tests/dkim; malformed signatures and key records; limits.
 * The library is set up as rampartd sets it up (dkim_startup(0): bodies
 * with CRLF); the line end cases run with the repair on as well.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <opendkim/dkim.h>

#include "dkim.h"
#include "dns.h"
#include "log.h"
#include "mem.h"
#include "msg.h"
#include "str.h"
#include "util.h"

/* ------------------------------------------------------------ fixtures */

struct tkey {
    char *pem;        /* PKCS#8 private key */
    char *pub;        /* p= value */
    char *spki;       /* base64 SubjectPublicKeyInfo (the p= of RSA keys) */
    int ed;
};

static struct tkey rsa2048, rsa1024, rsa512, ed25519, other2048;
static DKIM_LIB *signlib;
static struct dns_resolver *r;
static struct dkim_msg *cur;
static int log_errors;
static int expect_errors;
static int lib_fix_crlf;      /* how the library is set up now */

/* A message: header fields as the milter gives them, and a body. */
struct tmsg {
    struct msg_headers hs;
    str body;
};

static const char *const base_hdrs[] = {
    "From", " Alice <alice@example.org>",
    "To", " Bob <bob@example.net>",
    "Subject", " Lunch",
    "Date", " Mon, 01 Jan 2024 10:00:00 +0000",
    "Message-ID", " <lunch.1@example.org>",
    NULL,
};
static const char base_body[] = "Hello Bob,\r\n\r\nSee you at  noon. \r\n";

/* Base64 of len bytes, NUL-terminated, malloc'd. */
static char *b64(const unsigned char *in, int len)
{
    char *out = malloc((size_t) (4 * ((len + 2) / 3) + 1));

    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *) out, in, len);
    return out;
}

/* Make a key: RSA of bits, or Ed25519 when bits is 0. */
static void key_make(struct tkey *k, int bits)
{
    EVP_PKEY *pk = bits ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) bits)
                        : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;

    assert_non_null(pk);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    /* The BIO's memory is not NUL-terminated: copy exactly n bytes. */
    k->pem = malloc((size_t) n + 1);
    assert_non_null(k->pem);
    memcpy(k->pem, data, (size_t) n);
    k->pem[n] = '\0';
    BIO_free(bio);
    k->ed = bits == 0;
    {
        int len = i2d_PUBKEY(pk, NULL);
        unsigned char *der = malloc((size_t) len), *p = der;

        assert_int_equal(i2d_PUBKEY(pk, &p), len);
        k->spki = b64(der, len);
        free(der);
    }
    if (bits) {
        k->pub = strdup(k->spki);
    } else {
        unsigned char raw[32];
        size_t len = sizeof(raw);

        assert_int_equal(EVP_PKEY_get_raw_public_key(pk, raw, &len), 1);
        k->pub = b64(raw, (int) len);
    }
    EVP_PKEY_free(pk);
}

static void key_free(struct tkey *k)
{
    free(k->pem);
    free(k->pub);
    free(k->spki);
}

/*
 * libopendkim 2.11 never frees the key it loads to sign with Ed25519
 * (dkim_free() releases the signing key of RSA signatures only). These
 * tests sign with it; rampart only verifies. The suppression names that
 * one function; the slow unwinder lets it be seen under libcrypto's
 * frames, which have no frame pointers.
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

static void tmsg_init(struct tmsg *t, const char *const *hdrs, const char *body)
{
    msg_headers_init(&t->hs);
    str_init(&t->body);
    for (int i = 0; hdrs && hdrs[i]; i += 2)
        msg_headers_add(&t->hs, hdrs[i], hdrs[i + 1], (ssize_t) strlen(hdrs[i + 1]));
    str_adds(&t->body, body ? body : "");
}

static void tmsg_base(struct tmsg *t)
{
    tmsg_init(t, base_hdrs, base_body);
}

static void tmsg_free(struct tmsg *t)
{
    msg_headers_free(&t->hs);
    str_free(&t->body);
}

/* Put a field on top (where a signer adds DKIM-Signature). */
static void tmsg_prepend(struct tmsg *t, const char *name, const char *value, ssize_t len)
{
    struct msg_headers n;

    msg_headers_init(&n);
    msg_headers_add(&n, name, value, len < 0 ? (ssize_t) strlen(value) : len);
    for (int i = 0; i < t->hs.n; i++)
        msg_headers_add(&n, t->hs.h[i].name, t->hs.h[i].value, t->hs.h[i].value_len);
    msg_headers_free(&t->hs);
    t->hs = n;
}

/* Replace the value of the first field named name. */
static void tmsg_set(struct tmsg *t, const char *name, const char *value)
{
    for (int i = 0; i < t->hs.n; i++)
        if (ascii_casecmp(t->hs.h[i].name, name) == 0) {
            mem_free(t->hs.h[i].value);
            t->hs.h[i].value = mem_strdup(value);
            t->hs.h[i].value_len = (ssize_t) strlen(value);
            return;
        }
    fail_msg("no field %s", name);
}

/* Remove the first field named name. */
static void tmsg_remove(struct tmsg *t, const char *name)
{
    for (int i = 0; i < t->hs.n; i++)
        if (ascii_casecmp(t->hs.h[i].name, name) == 0) {
            mem_free(t->hs.h[i].name);
            mem_free(t->hs.h[i].value);
            memmove(&t->hs.h[i], &t->hs.h[i + 1], sizeof(t->hs.h[0]) * (size_t) (t->hs.n - i - 1));
            t->hs.n--;
            return;
        }
    fail_msg("no field %s", name);
}

/* Signing options for the next signatures. */
struct signopt {
    dkim_alg_t alg;
    dkim_canon_t hc, bc;
    ssize_t length;          /* -1: whole body */
    uint64_t fixedtime;      /* 0: now */
    uint64_t ttl;            /* x= = t= + ttl; 0: no x= */
    const char *signer;      /* i=, or NULL */
    const char *oversign;    /* one header name to oversign, or NULL */
};

static const struct signopt sig_default = {
    DKIM_SIGN_RSASHA256, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1, 0, 0, NULL, NULL,
};

/* Sign t with k as s=sel d=dom; the DKIM-Signature value (leading space, CRLF folds), malloc'd. */
static char *sign_with(const struct tmsg *t, const struct tkey *k, const char *sel, const char *dom,
                       const struct signopt *o)
{
    DKIM_STAT st;
    DKIM *d;
    str line = STR_INIT;
    unsigned char *hdr;
    size_t len;
    char *out;
    uint64_t ft = o->fixedtime, ttl = o->ttl;
    const char *os[2] = { o->oversign, NULL };

    assert_int_equal(dkim_options(signlib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &ft, sizeof(ft)), DKIM_STAT_OK);
    assert_int_equal(dkim_options(signlib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &ttl, sizeof(ttl)), DKIM_STAT_OK);
    assert_int_equal(dkim_options(signlib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
                                  o->oversign ? (void *) os : NULL, sizeof(char **)), DKIM_STAT_OK);
    d = dkim_sign(signlib, (const unsigned char *) "test", NULL, (dkim_sigkey_t) k->pem,
                  (const unsigned char *) sel, (const unsigned char *) dom, o->hc, o->bc,
                  k->ed ? DKIM_SIGN_ED25519SHA256 : o->alg, o->length, &st);
    assert_non_null(d);
    if (o->signer)
        assert_int_equal(dkim_set_signer(d, (const unsigned char *) o->signer), DKIM_STAT_OK);
    for (int i = 0; i < t->hs.n; i++) {
        str_reset(&line);
        str_adds(&line, t->hs.h[i].name);
        str_addc(&line, ':');
        str_add(&line, t->hs.h[i].value, t->hs.h[i].value_len);
        assert_int_equal(dkim_header(d, (unsigned char *) line.data, (size_t) line.len), DKIM_STAT_OK);
    }
    str_free(&line);
    assert_int_equal(dkim_eoh(d), DKIM_STAT_OK);
    if (t->body.len > 0)
        assert_int_equal(dkim_body(d, (unsigned char *) t->body.data, (size_t) t->body.len), DKIM_STAT_OK);
    assert_int_equal(dkim_eom(d, NULL), DKIM_STAT_OK);
    assert_int_equal(dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &hdr, &len), DKIM_STAT_OK);
    out = malloc(len + 2);
    assert_non_null(out);
    out[0] = ' ';
    memcpy(out + 1, hdr, len);
    out[len + 1] = '\0';
    dkim_free(d);
    return out;
}

static char *sign_msg(const struct tmsg *t, const struct tkey *k, const char *sel, const char *dom)
{
    return sign_with(t, k, sel, dom, &sig_default);
}

/* Sign and put the signature on top. */
static void sign_prepend(struct tmsg *t, const struct tkey *k, const char *sel, const char *dom,
                         const struct signopt *o)
{
    char *sig = sign_with(t, k, sel, dom, o ? o : &sig_default);

    tmsg_prepend(t, "DKIM-Signature", sig, -1);
    free(sig);
}

/* Publish k at sel._domainkey.dom, with extra tags appended. */
static void publish(const char *sel, const char *dom, const struct tkey *k, const char *extra)
{
    char name[300], rec[2048];

    snprintf(name, sizeof(name), "%s._domainkey.%s", sel, dom);
    snprintf(rec, sizeof(rec), "v=DKIM1; k=%s; p=%s%s", k->ed ? "ed25519" : "rsa", k->pub, extra ? extra : "");
    assert_int_equal(dns_fixture_add(r, name, DNS_T_TXT, rec), 0);
}

/* Set the library up again, with or without line end repair (no message in progress). */
static void lib_restart(int fix_crlf)
{
    dkim_shutdown();
    assert_int_equal(dkim_startup(fix_crlf), 0);
    lib_fix_crlf = fix_crlf;
}

/* Verify t; body fed in pieces of chunk bytes (0: at once). */
static const struct dkim_results *verify_opts(const struct tmsg *t, const struct dkim_options *o, size_t chunk,
                                              int64_t deadline)
{
    size_t len = (size_t) t->body.len;

    dkim_msg_free(cur);
    cur = dkim_msg_start(r, &t->hs, o, deadline);
    for (size_t off = 0; off < len;) {
        size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;

        dkim_msg_body(cur, t->body.data + off, n);
        off += n;
    }
    return dkim_msg_finish(cur);
}

static const struct dkim_results *verify(const struct tmsg *t)
{
    return verify_opts(t, NULL, 0, 0);
}

static void log_hook(int level, const char *line, void *arg)
{
    (void) arg;
    if (level <= LOG_LVL_ERROR) {
        log_errors++;
        if (!expect_errors)
            fprintf(stderr, "unexpected error log: %s\n", line);
    }
}

static int group_setup(void **state)
{
    u_int bits = 0;

    (void) state;
    log_set_hook(log_hook, NULL);
    if (dkim_startup(0) != 0)
        return -1;
    lib_fix_crlf = 0;
    key_make(&rsa2048, 2048);
    key_make(&other2048, 2048);
    key_make(&rsa1024, 1024);
    key_make(&rsa512, 512);
    key_make(&ed25519, 0);
    signlib = dkim_init(NULL, NULL);
    if (signlib == NULL)
        return -1;
    /* Sign with any key size; verification decides. */
    dkim_options(signlib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &bits, sizeof(bits));
    return 0;
}

static int group_teardown(void **state)
{
    (void) state;
    dkim_close(signlib);
    key_free(&rsa2048);
    key_free(&other2048);
    key_free(&rsa1024);
    key_free(&rsa512);
    key_free(&ed25519);
    dkim_shutdown();
    log_set_hook(NULL, NULL);
    return 0;
}

static int setup(void **state)
{
    (void) state;
    r = dns_fixture_new();
    cur = NULL;
    log_errors = 0;
    expect_errors = 0;
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    dkim_msg_free(cur);
    cur = NULL;
    dns_resolver_free(r);
    r = NULL;
    if (lib_fix_crlf)
        lib_restart(0);
    if (!expect_errors)
        assert_int_equal(log_errors, 0);
    return 0;
}

/* One signature's result and reason. */
static void assert_sig(const struct dkim_results *rs, int i, enum dkim_result want, const char *reason)
{
    assert_true(i < rs->count);
    if (rs->sig[i].result != want || (reason && strcmp(rs->sig[i].reason, reason) != 0))
        fail_msg("signature %d: %s \"%s\", want %s \"%s\"", i, dkim_result_name(rs->sig[i].result),
                 rs->sig[i].reason, dkim_result_name(want), reason ? reason : "*");
}

/* ------------------------------------------------------------ basic results */

static void test_rsa_pass(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    char *sig;

    (void) state;
    tmsg_base(&t);
    sig = sign_msg(&t, &rsa2048, "sel", "example.org");
    tmsg_prepend(&t, "DKIM-Signature", sig, -1);
    publish("sel", "example.org", &rsa2048, NULL);

    cur = dkim_msg_start(r, &t.hs, NULL, 0);
    /* The key lookup starts at end of headers, before any body. */
    assert_int_equal(dns_fixture_queries(r), 1);
    dkim_msg_body(cur, t.body.data, (size_t) t.body.len);
    rs = dkim_msg_finish(cur);

    assert_int_equal(rs->result, DKIM_RESULT_PASS);
    assert_int_equal(rs->count, 1);
    assert_int_equal(rs->evaluated, 1);
    assert_int_equal(rs->body_length, t.body.len);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_string_equal(rs->sig[0].domain, "example.org");
    assert_string_equal(rs->sig[0].selector, "sel");
    assert_string_equal(rs->sig[0].algorithm, "rsa-sha256");
    assert_int_equal(rs->sig[0].alg, DKIM_ALG_RSA_SHA256);
    assert_null(rs->sig[0].identity);
    assert_int_equal(rs->sig[0].key_bits, 2048);
    assert_int_equal(rs->sig[0].has_length, 0);
    assert_int_equal(rs->sig[0].evaluated, 1);
    assert_int_equal(rs->sig[0].testing, 0);
    /* header.b: the first characters of b= */
    {
        const char *b = strstr(sig, "b=");

        while (b && b[-1] != ' ' && b[-1] != ';' && b[-1] != '\t')
            b = strstr(b + 1, "b=");
        assert_non_null(b);
        assert_int_equal(strncmp(rs->sig[0].b, b + 2, DKIM_B_PREFIX_LEN), 0);
        assert_int_equal(strlen(rs->sig[0].b), DKIM_B_PREFIX_LEN);
    }
    /* Calling finish again gives the same answer. */
    assert_ptr_equal(dkim_msg_finish(cur), rs);
    assert_int_equal(dns_fixture_queries(r), 1);
    free(sig);
    tmsg_free(&t);
}

static void test_ed25519_pass(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct signopt o = sig_default;

    (void) state;
    tmsg_base(&t);
    o.signer = "alice@example.org";
    sign_prepend(&t, &ed25519, "ed", "example.org", &o);
    publish("ed", "example.org", &ed25519, NULL);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_string_equal(rs->sig[0].algorithm, "ed25519-sha256");
    assert_int_equal(rs->sig[0].alg, DKIM_ALG_ED25519_SHA256);
    assert_int_equal(rs->sig[0].key_bits, 256);
    assert_string_equal(rs->sig[0].identity, "alice@example.org");
    tmsg_free(&t);
}

static void test_unsigned(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;

    (void) state;
    tmsg_base(&t);
    rs = verify(&t);
    assert_int_equal(rs->result, DKIM_RESULT_NONE);
    assert_int_equal(rs->count, 0);
    assert_int_equal(rs->evaluated, 0);
    assert_string_equal(dkim_result_name(rs->result), "none");
    assert_int_equal(dns_fixture_queries(r), 0);
    tmsg_free(&t);
}

static void test_body_tampered(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    publish("sel", "example.org", &rsa2048, NULL);
    str_set(&t.body, "Hello Bob,\r\n\r\nSee you at one.\r\n");
    rs = verify(&t);
    assert_int_equal(rs->result, DKIM_RESULT_FAIL);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "body hash mismatch");
    assert_int_equal(rs->sig[0].key_bits, 2048);
    tmsg_free(&t);
}

static void test_header_tampered(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &ed25519, "ed", "example.org", NULL);
    publish("ed", "example.org", &ed25519, NULL);
    tmsg_set(&t, "Subject", " Dinner");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "signature verification failed");
    tmsg_free(&t);
}

static void test_signed_header_removed(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    publish("sel", "example.org", &rsa2048, NULL);
    tmsg_remove(&t, "Subject");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "signature verification failed");
    tmsg_free(&t);
}

/* h= names a field the message lacks (oversigning): fine until someone adds it. */
static void test_signed_header_missing(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct signopt o = sig_default;

    (void) state;
    tmsg_base(&t);
    o.oversign = "Reply-To";
    sign_prepend(&t, &rsa2048, "sel", "example.org", &o);
    assert_non_null(strstr(t.hs.h[0].value, "Reply-To"));
    publish("sel", "example.org", &rsa2048, NULL);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");

    msg_headers_add(&t.hs, "Reply-To", " mallory@example.com", 20);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "signature verification failed");
    tmsg_free(&t);
}

static void test_revoked_key(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    dns_fixture_add(r, "sel._domainkey.example.org", DNS_T_TXT, "v=DKIM1; k=rsa; p=");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PERMERROR, "key revoked");
    assert_int_equal(rs->result, DKIM_RESULT_PERMERROR);
    tmsg_free(&t);
}

static void test_key_sizes(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct dkim_options o;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa512, "small", "example.org", NULL);
    publish("small", "example.org", &rsa512, NULL);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_POLICY, "key too small (512 bits)");
    assert_int_equal(rs->sig[0].key_bits, 512);

    /* The limit is an option. */
    dkim_options_init(&o);
    o.min_rsa_bits = 512;
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");

    /* A bad signature with a small key is a fail, not a policy matter. */
    str_set(&t.body, "changed\r\n");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "body hash mismatch");
    tmsg_free(&t);

    /* 1024 bits is enough by default. */
    tmsg_base(&t);
    sign_prepend(&t, &rsa1024, "mid", "example.org", NULL);
    publish("mid", "example.org", &rsa1024, NULL);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_int_equal(rs->sig[0].key_bits, 1024);
    dkim_options_init(&o);
    o.min_rsa_bits = 2048;
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_POLICY, "key too small (1024 bits)");
    tmsg_free(&t);

    /* The minimum applies to RSA only. */
    tmsg_base(&t);
    sign_prepend(&t, &ed25519, "ed", "example.org", NULL);
    publish("ed", "example.org", &ed25519, NULL);
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    tmsg_free(&t);
}

static void test_rsa_sha1(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct signopt so = sig_default;
    struct dkim_options o;

    (void) state;
    tmsg_base(&t);
    so.alg = DKIM_SIGN_RSASHA1;
    sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
    assert_non_null(strstr(t.hs.h[0].value, "a=rsa-sha1"));
    publish("sel", "example.org", &rsa2048, NULL);

    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "rsa-sha1 not accepted");
    assert_int_equal(rs->sig[0].evaluated, 0);
    assert_string_equal(rs->sig[0].algorithm, "rsa-sha1");
    assert_int_equal(dns_fixture_queries(r), 0);

    dkim_options_init(&o);
    o.allow_sha1 = 1;
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_int_equal(rs->sig[0].alg, DKIM_ALG_RSA_SHA1);
    tmsg_free(&t);
}

static void test_two_signatures_one_failing(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    char *good, *bad;

    (void) state;
    tmsg_base(&t);
    good = sign_msg(&t, &ed25519, "ed", "example.org");
    bad = sign_msg(&t, &other2048, "sel", "example.net");     /* not the published key */
    tmsg_prepend(&t, "DKIM-Signature", good, -1);
    tmsg_prepend(&t, "DKIM-Signature", bad, -1);
    publish("ed", "example.org", &ed25519, NULL);
    publish("sel", "example.net", &rsa2048, NULL);
    rs = verify(&t);
    assert_int_equal(rs->count, 2);
    assert_int_equal(rs->evaluated, 2);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "signature verification failed");
    assert_string_equal(rs->sig[0].domain, "example.net");
    assert_sig(rs, 1, DKIM_RESULT_PASS, "");
    assert_string_equal(rs->sig[1].domain, "example.org");
    assert_int_equal(rs->result, DKIM_RESULT_PASS);
    assert_int_equal(dns_fixture_queries(r), 2);
    free(good);
    free(bad);
    tmsg_free(&t);
}

static void test_expired_and_future(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct signopt so = sig_default;
    struct dkim_options o;
    time_t now = time(NULL);

    (void) state;
    /* t= three days ago, x= two days ago */
    tmsg_base(&t);
    so.fixedtime = (uint64_t) now - 3 * 86400;
    so.ttl = 86400;
    sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
    publish("sel", "example.org", &rsa2048, NULL);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PERMERROR, "signature expired");
    assert_int_equal(rs->sig[0].evaluated, 0);
    assert_int_equal(dns_fixture_queries(r), 0);
    tmsg_free(&t);

    /* x= a minute ago is within the default clock skew */
    tmsg_base(&t);
    so.fixedtime = (uint64_t) now - 3600;
    so.ttl = 3600 - 60;
    sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    dkim_options_init(&o);
    o.clock_skew_s = 0;
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_PERMERROR, "signature expired");
    tmsg_free(&t);

    /* t= a day ahead */
    tmsg_base(&t);
    so.fixedtime = (uint64_t) now + 86400;
    so.ttl = 0;
    sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PERMERROR, "signature timestamp in the future");
    tmsg_free(&t);

    /* t= a minute ahead: clock skew */
    tmsg_base(&t);
    so.fixedtime = (uint64_t) now + 60;
    sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    tmsg_free(&t);
}

static void test_length_tag(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct signopt so = sig_default;
    struct dkim_options o;

    (void) state;
    tmsg_base(&t);
    so.length = 12;
    sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
    publish("sel", "example.org", &rsa2048, NULL);
    /* Something appended after the signed part. */
    str_adds(&t.body, "-- \r\nappended by a list\r\n");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_int_equal(rs->sig[0].has_length, 1);
    assert_int_equal(rs->sig[0].length, 12);
    assert_true(rs->body_length > 12);

    dkim_options_init(&o);
    o.ignore_length_tag = 1;
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_POLICY, "l= not accepted");
    assert_int_equal(rs->sig[0].evaluated, 0);
    assert_int_equal(rs->sig[0].length, 12);

    /* A body shorter than l= */
    str_set(&t.body, "Hi\r\n");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "body shorter than l=");
    tmsg_free(&t);
}

/* ------------------------------------------------------------ key lookups */

static void test_key_timeout(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    int64_t t0;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    dns_fixture_fail(r, "sel._domainkey.example.org", DNS_T_TXT, DNS_TEMPFAIL, 1);
    t0 = clock_now_ms();
    rs = verify_opts(&t, NULL, 0, clock_now_ms() + 150);
    assert_true(clock_now_ms() - t0 < 3000);
    assert_true(clock_now_ms() - t0 >= 100);
    assert_sig(rs, 0, DKIM_RESULT_TEMPERROR, "key lookup timed out");
    assert_int_equal(rs->result, DKIM_RESULT_TEMPERROR);
    assert_int_equal(rs->sig[0].evaluated, 1);
    tmsg_free(&t);
}

/* The option's timeout applies when no deadline is given. */
static void test_key_timeout_option(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct dkim_options o;
    int64_t t0;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    dns_fixture_fail(r, "sel._domainkey.example.org", DNS_T_TXT, DNS_TEMPFAIL, 1);
    dkim_options_init(&o);
    o.timeout_ms = 100;
    t0 = clock_now_ms();
    rs = verify_opts(&t, &o, 0, 0);
    assert_true(clock_now_ms() - t0 < 3000);
    assert_sig(rs, 0, DKIM_RESULT_TEMPERROR, "key lookup timed out");
    tmsg_free(&t);
}

/* A message abandoned before its end: the pending lookup is released. */
static void test_abort_pending(void **state)
{
    struct tmsg t;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    dns_fixture_fail(r, "sel._domainkey.example.org", DNS_T_TXT, DNS_TEMPFAIL, 1);
    cur = dkim_msg_start(r, &t.hs, NULL, 0);
    dkim_msg_body(cur, "partial", 7);
    dkim_msg_free(cur);
    cur = NULL;
    tmsg_free(&t);
}

struct key_case {
    const char *name;
    int ed;                   /* sign with Ed25519 (else RSA 2048) */
    const char *record;       /* NULL: see status */
    enum dns_status status;   /* when record is NULL: NXDOMAIN, NODATA, TEMPFAIL, BADANSWER */
    enum dkim_result want;
    const char *reason;
};

static void test_key_records(void **state)
{
    static char long_rec[2100], two_keys[1];
    const struct key_case cases[] = {
        { "nxdomain", 0, NULL, DNS_NXDOMAIN, DKIM_RESULT_PERMERROR, "no key (NXDOMAIN)" },
        { "nodata", 0, NULL, DNS_NODATA, DKIM_RESULT_PERMERROR, "no key (no TXT record)" },
        { "servfail", 0, NULL, DNS_TEMPFAIL, DKIM_RESULT_TEMPERROR, "key lookup failed" },
        { "resolver refused a huge record", 0, NULL, DNS_BADANSWER, DKIM_RESULT_PERMERROR,
          "key lookup: unusable answer" },
        { "not a key", 0, "hello world", 0, DKIM_RESULT_PERMERROR, "key record syntax error" },
        { "spf record", 0, "v=spf1 -all", 0, DKIM_RESULT_PERMERROR, "key record is not DKIM1" },
        { "version later", 0, "k=rsa; v=DKIM1; p=@RSA@", 0, DKIM_RESULT_PERMERROR, "key record is not DKIM1" },
        { "no p=", 0, "v=DKIM1; k=rsa", 0, DKIM_RESULT_PERMERROR, "key record has no p=" },
        { "p= junk", 0, "v=DKIM1; k=rsa; p=!!notbase64", 0, DKIM_RESULT_PERMERROR, "key data is not base64" },
        { "p= not a key", 0, "v=DKIM1; k=rsa; p=aGVsbG8gd29ybGQ=", 0, DKIM_RESULT_PERMERROR, "unusable key" },
        { "p= an Ed25519 SubjectPublicKeyInfo", 0, "v=DKIM1; k=rsa; p=@EDSPKI@", 0, DKIM_RESULT_PERMERROR,
          "unusable key" },
        { "p= another RSA key", 0, "v=DKIM1; k=rsa; p=@OTHER@", 0, DKIM_RESULT_FAIL,
          "signature verification failed" },
        { "k=ed25519 for rsa", 0, "v=DKIM1; k=ed25519; p=@RSA@", 0, DKIM_RESULT_PERMERROR,
          "key type does not match a=" },
        { "k=rsa for ed25519", 1, "v=DKIM1; k=rsa; p=@RSA@", 0, DKIM_RESULT_PERMERROR, "bad Ed25519 key" },
        { "k=rsa with ed25519 key for ed25519", 1, "v=DKIM1; k=rsa; p=@ED@", 0, DKIM_RESULT_PERMERROR,
          "key type does not match a=" },
        { "no k= for ed25519", 1, "v=DKIM1; p=@ED@", 0, DKIM_RESULT_PERMERROR, "key type does not match a=" },
        { "unknown k=", 0, "v=DKIM1; k=dsa; p=@RSA@", 0, DKIM_RESULT_PERMERROR, "unknown key type" },
        { "h=sha1", 0, "v=DKIM1; k=rsa; h=sha1; p=@RSA@", 0, DKIM_RESULT_PERMERROR, "key does not allow the hash" },
        { "h=sha1:sha256", 0, "v=DKIM1; k=rsa; h=sha1:sha256; p=@RSA@", 0, DKIM_RESULT_PASS, "" },
        { "s=other", 0, "v=DKIM1; k=rsa; s=other; p=@RSA@", 0, DKIM_RESULT_PERMERROR, "key not for email" },
        { "s=*", 0, "v=DKIM1; k=rsa; s=*; p=@RSA@", 0, DKIM_RESULT_PASS, "" },
        { "no v= no k=", 0, "p=@RSA@", 0, DKIM_RESULT_PASS, "" },
        { "unknown tags", 0, "v=DKIM1; k=rsa; n=a note; zz=1; p=@RSA@", 0, DKIM_RESULT_PASS, "" },
        { "duplicate tag", 0, "v=DKIM1; k=rsa; p=@RSA@; p=@RSA@", 0, DKIM_RESULT_PERMERROR,
          "key record syntax error" },
        { "too long for the library", 0, long_rec, 0, DKIM_RESULT_PERMERROR, "key record too long" },
        { "two keys", 0, two_keys, 0, DKIM_RESULT_PERMERROR, "several key records" },
        { "stray record and a key", 0, "v=spf1 -all", 0, DKIM_RESULT_PASS, "" },
    };

    (void) state;
    snprintf(long_rec, sizeof(long_rec), "v=DKIM1; k=rsa; n=%01900d; p=@RSA@", 0);
    for (size_t i = 0; i < NELEM(cases); i++) {
        const struct key_case *c = &cases[i];
        const char *name = "sel._domainkey.example.org";
        struct tkey *k = c->ed ? &ed25519 : &rsa2048;
        struct tmsg t;
        const struct dkim_results *rs;

        dns_fixture_clear(r);
        tmsg_base(&t);
        sign_prepend(&t, k, "sel", "example.org", NULL);
        if (c->record == two_keys) {
            publish("sel", "example.org", k, NULL);
            publish("sel", "example.org", &other2048, NULL);
        } else if (strcmp(c->name, "stray record and a key") == 0) {
            dns_fixture_add(r, name, DNS_T_TXT, c->record);
            publish("sel", "example.org", k, NULL);
        } else if (c->record) {
            str rec = STR_INIT;
            const char *p = c->record, *at;

            /* @RSA@ and @ED@ stand for the public keys. */
            while ((at = strchr(p, '@')) != NULL) {
                str_add(&rec, p, at - p);
                if (strncmp(at, "@RSA@", 5) == 0) {
                    str_adds(&rec, rsa2048.pub);
                    p = at + 5;
                } else if (strncmp(at, "@ED@", 4) == 0) {
                    str_adds(&rec, ed25519.pub);
                    p = at + 4;
                } else if (strncmp(at, "@EDSPKI@", 8) == 0) {
                    str_adds(&rec, ed25519.spki);
                    p = at + 8;
                } else if (strncmp(at, "@OTHER@", 7) == 0) {
                    str_adds(&rec, other2048.pub);
                    p = at + 7;
                } else {
                    str_addc(&rec, '@');
                    p = at + 1;
                }
            }
            str_adds(&rec, p);
            assert_int_equal(dns_fixture_add(r, name, DNS_T_TXT, rec.data), 0);
            str_free(&rec);
        } else if (c->status == DNS_NODATA) {
            dns_fixture_add(r, name, DNS_T_A, "192.0.2.1");
        } else if (c->status != DNS_NXDOMAIN) {
            dns_fixture_fail(r, name, DNS_T_TXT, c->status, 0);
        }
        rs = verify(&t);
        if (rs->sig[0].result != c->want || strcmp(rs->sig[0].reason, c->reason) != 0)
            fail_msg("case \"%s\": %s \"%s\", want %s \"%s\"", c->name, dkim_result_name(rs->sig[0].result),
                     rs->sig[0].reason, dkim_result_name(c->want), c->reason);
        tmsg_free(&t);
    }
}

/* Key flags: t=y is reported, t=s forbids a subdomain in i=. */
static void test_key_flags(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct signopt so = sig_default;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    publish("sel", "example.org", &rsa2048, "; t=y");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_int_equal(rs->sig[0].testing, 1);
    tmsg_free(&t);

    dns_fixture_clear(r);
    tmsg_base(&t);
    so.signer = "alice@mail.example.org";
    sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
    publish("sel", "example.org", &rsa2048, "; t=s");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_PERMERROR, "key forbids a subdomain in i=");
    assert_string_equal(rs->sig[0].identity, "alice@mail.example.org");
    tmsg_free(&t);
}

/* Two signatures with the same key: one query. */
static void test_shared_key_query(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct signopt so = sig_default;

    (void) state;
    tmsg_base(&t);
    so.hc = DKIM_CANON_SIMPLE;
    so.bc = DKIM_CANON_SIMPLE;
    {
        char *a = sign_with(&t, &rsa2048, "sel", "example.org", &so);
        char *b = sign_msg(&t, &rsa2048, "sel", "example.org");

        tmsg_prepend(&t, "DKIM-Signature", a, -1);
        tmsg_prepend(&t, "DKIM-Signature", b, -1);
        free(a);
        free(b);
    }
    publish("sel", "example.org", &rsa2048, NULL);
    rs = verify(&t);
    assert_int_equal(dns_fixture_queries(r), 1);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_sig(rs, 1, DKIM_RESULT_PASS, "");
    tmsg_free(&t);
}

/* ------------------------------------------------------------ canonicalization */

struct canon_case {
    const char *name;
    dkim_canon_t hc, bc;
    const char *signed_body;
    const char *received_body;
    size_t chunk;
    const char *subject;      /* received Subject value, NULL: unchanged */
    int lf_folds;             /* received header folds as bare LF */
    enum dkim_result want;    /* as rampartd: dkim_startup(0) */
    enum dkim_result want_fixed; /* dkim_startup(1) */
};

#define PASS DKIM_RESULT_PASS
#define FAIL DKIM_RESULT_FAIL

static void test_canonicalization(void **state)
{
    const struct canon_case cases[] = {
        { "relaxed body white space", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "a  b \r\nc\t\r\n\r\n\r\n", "a b\r\nc\r\n", 0, NULL, 0, PASS, PASS },
        { "simple body white space", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "a  b \r\nc\t\r\n", "a b\r\nc\r\n", 0, NULL, 0, FAIL, FAIL },
        { "simple trailing empty lines", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "x\r\n\r\n\r\n", "x\r\n", 0, NULL, 0, PASS, PASS },
        { "simple empty body", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE, "", "", 0, NULL, 0, PASS, PASS },
        { "relaxed empty body", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, "", "", 0, NULL, 0, PASS, PASS },
        { "simple empty body vs CRLF", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE, "", "\r\n", 0, NULL, 0,
          PASS, PASS },
        /* RFC 6376 3.4.3, 3.4.4: a missing last line end is added */
        { "simple no final line end", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "abc\r\n", "abc", 0, NULL, 0, PASS, PASS },
        { "relaxed no final line end", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "a b\r\n\r\nabc\r\n", "a  b\r\n\r\nabc", 0, NULL, 0, PASS, PASS },
        { "relaxed no final line end, chunks", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "a b\r\nabc\r\n", "a  b\r\nabc", 3, NULL, 0, PASS, PASS },
        { "simple body ends with CR", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "abc\r\n", "abc\r", 1, NULL, 0, PASS, PASS },
        { "relaxed body ends with CR", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "abc\r\n", "abc\r", 0, NULL, 0, PASS, PASS },
        /* bare LF and bare CR: line ends only when repaired */
        { "simple bare LF body", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "line 1\r\nline 2\r\n\r\nend\r\n", "line 1\nline 2\n\nend\n", 0, NULL, 0, FAIL, PASS },
        { "relaxed bare LF body", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "line 1 \r\nline 2\r\n", "line 1 \nline 2\n", 0, NULL, 0, FAIL, PASS },
        { "relaxed bare LF body, no final line end", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "line 1\r\nline 2\r\n", "line 1\nline 2", 0, NULL, 0, FAIL, PASS },
        { "relaxed body ends with bare LF", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "abc\r\n", "abc\n", 0, NULL, 0, FAIL, PASS },
        { "relaxed bare CR line end", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "a\r\nb\r\n", "a\rb\r\n", 0, NULL, 0, FAIL, PASS },
        { "simple bare CR line end", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "a\r\nb\r\n", "a\rb\r\n", 0, NULL, 0, FAIL, PASS },
        { "one-byte chunks CRLF", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "one\r\ntwo\r\n\r\nthree\r\n", "one\r\ntwo\r\n\r\nthree\r\n", 1, NULL, 0, PASS, PASS },
        { "relaxed one-byte chunks CRLF", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "one  \r\ntwo\r\n", "one\r\ntwo\r\n", 1, NULL, 0, PASS, PASS },
        { "one-byte chunks bare LF", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "one\r\ntwo\r\n\r\nthree\r\n", "one\ntwo\n\nthree\n", 1, NULL, 0, FAIL, PASS },
        { "relaxed one-byte chunks bare LF", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "one  \r\ntwo\r\n", "one\ntwo\n", 1, NULL, 0, FAIL, PASS },
        { "three-byte chunks CRLF", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "aa\r\nbb\r\ncc\r\n", "aa\r\nbb\r\ncc\r\n", 3, NULL, 0, PASS, PASS },
        { "relaxed header trailing space", DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE,
          "x\r\n", "x\r\n", 0, " Lunch  ", 0, PASS, PASS },
        { "simple header trailing space", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "x\r\n", "x\r\n", 0, " Lunch  ", 0, FAIL, FAIL },
        { "relaxed header refolded", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "x\r\n", "x\r\n", 0, "\r\n Lunch", 0, PASS, PASS },
        /* header fields are made CRLF whatever the library is told */
        { "simple signature with LF folds", DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE,
          "x\r\n", "x\r\n", 0, NULL, 1, PASS, PASS },
        { "relaxed header with LF fold", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
          "x\r\n", "x\r\n", 0, "\n Lunch", 0, PASS, PASS },
    };

    (void) state;
    publish("sel", "example.org", &rsa2048, NULL);
    for (int fix = 0; fix <= 1; fix++) {
        lib_restart(fix);
        for (size_t i = 0; i < NELEM(cases); i++) {
            const struct canon_case *c = &cases[i];
            enum dkim_result want = fix ? c->want_fixed : c->want;
            struct tmsg t;
            struct signopt so = sig_default;
            const struct dkim_results *rs;

            tmsg_init(&t, base_hdrs, c->signed_body);
            so.hc = c->hc;
            so.bc = c->bc;
            sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
            str_set(&t.body, c->received_body);
            if (c->subject)
                tmsg_set(&t, "Subject", c->subject);
            if (c->lf_folds) {
                /* as a milter may hand over folded fields */
                str v = STR_INIT;
                const char *s = t.hs.h[0].value;

                assert_non_null(strstr(s, "\r\n"));
                for (; *s; s++)
                    if (*s != '\r')
                        str_addc(&v, *s);
                tmsg_set(&t, "DKIM-Signature", v.data);
                str_free(&v);
            }
            rs = verify_opts(&t, NULL, c->chunk, 0);
            if (rs->sig[0].result != want)
                fail_msg("case \"%s\", fix_crlf %d: %s \"%s\"", c->name, fix, dkim_result_name(rs->sig[0].result),
                         rs->sig[0].reason);
            /* a body that differs is a body hash mismatch, nothing else */
            if (want == FAIL && c->subject == NULL)
                assert_sig(rs, 0, FAIL, "body hash mismatch");
            assert_int_equal(rs->body_length, t.body.len);
            tmsg_free(&t);
        }
    }
}

/*
 * A message signed over CRLF, handed over with bare LF line ends (a message
 * file fed as it is): with the library set up as rampartd sets it up, a
 * body hash mismatch, never an error; with CRLF, a pass; with the repair
 * on, a pass either way.
 */
static void test_bare_lf_body(void **state)
{
    static const char body_crlf[] = "Hello Bob,\r\n\r\nSee you at  noon. \r\n-- \r\nAlice\r\n";
    static const char body_lf[] = "Hello Bob,\n\nSee you at  noon. \n-- \nAlice\n";
    const dkim_canon_t canons[] = { DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE };   /* body */
    const struct dkim_results *rs;

    (void) state;
    publish("sel", "example.org", &rsa2048, NULL);
    publish("ed", "example.org", &ed25519, NULL);
    for (int fix = 0; fix <= 1; fix++) {
        lib_restart(fix);
        for (size_t c = 0; c < NELEM(canons); c++) {
            struct tmsg t;
            struct signopt so = sig_default;

            char *a, *b;

            /* (libopendkim's Ed25519 signatures do not verify with simple header canonicalization) */
            so.bc = canons[c];
            tmsg_init(&t, base_hdrs, body_crlf);
            a = sign_with(&t, &rsa2048, "sel", "example.org", &so);
            b = sign_with(&t, &ed25519, "ed", "example.org", &so);
            tmsg_prepend(&t, "DKIM-Signature", a, -1);
            tmsg_prepend(&t, "DKIM-Signature", b, -1);
            free(a);
            free(b);
            rs = verify_opts(&t, NULL, 0, 0);
            assert_int_equal(rs->result, DKIM_RESULT_PASS);
            assert_sig(rs, 0, DKIM_RESULT_PASS, "");
            assert_sig(rs, 1, DKIM_RESULT_PASS, "");

            str_set(&t.body, body_lf);
            for (size_t chunk = 0; chunk <= 5; chunk += 5) {
                rs = verify_opts(&t, NULL, chunk, 0);
                if (fix) {
                    assert_int_equal(rs->result, DKIM_RESULT_PASS);
                    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
                    assert_sig(rs, 1, DKIM_RESULT_PASS, "");
                } else {
                    assert_int_equal(rs->result, DKIM_RESULT_FAIL);
                    assert_sig(rs, 0, DKIM_RESULT_FAIL, "body hash mismatch");
                    assert_sig(rs, 1, DKIM_RESULT_FAIL, "body hash mismatch");
                }
                assert_int_equal(rs->body_length, (int64_t) strlen(body_lf));
            }
            tmsg_free(&t);
        }
    }
}

/* NUL bytes in the body are ordinary bytes: hashed, never a cut, never an over-read. */
static void test_nul_in_body(void **state)
{
    static const char signed_body[] = "a\0b\r\n\0\r\n";
    static const struct {
        const char *body;
        ssize_t len;
        enum dkim_result want;
    } cases[] = {
        { "a\0b\r\n\0\r\n", 8, DKIM_RESULT_PASS },
        { "a\0b\r\n\0", 6, DKIM_RESULT_PASS },          /* the last line end is added */
        { "a\0c\r\n\0\r\n", 8, DKIM_RESULT_FAIL },
        { "a\r\n", 3, DKIM_RESULT_FAIL },                 /* cut at the NUL */
        { "a\0b\n\0\n", 6, DKIM_RESULT_FAIL },          /* bare LF, not repaired */
    };
    struct tmsg base;

    (void) state;
    publish("sel", "example.org", &rsa2048, NULL);
    tmsg_init(&base, base_hdrs, NULL);
    str_add(&base.body, signed_body, (ssize_t) sizeof(signed_body) - 1);
    for (int simple = 0; simple <= 1; simple++) {
        struct signopt so = sig_default;
        char *sig;

        so.hc = so.bc = simple ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
        sig = sign_with(&base, &rsa2048, "sel", "example.org", &so);
        for (size_t i = 0; i < NELEM(cases); i++) {
            struct tmsg t;
            const struct dkim_results *rs;

            tmsg_init(&t, base_hdrs, NULL);
            tmsg_prepend(&t, "DKIM-Signature", sig, -1);
            str_add(&t.body, cases[i].body, cases[i].len);
            for (size_t chunk = 0; chunk <= 1; chunk++) {
                rs = verify_opts(&t, NULL, chunk, 0);
                if (rs->sig[0].result != cases[i].want)
                    fail_msg("case %zu, %s: %s \"%s\"", i, simple ? "simple" : "relaxed",
                             dkim_result_name(rs->sig[0].result), rs->sig[0].reason);
                assert_int_equal(rs->body_length, cases[i].len);
            }
            tmsg_free(&t);
        }
        free(sig);
    }
    tmsg_free(&base);
}

#undef PASS
#undef FAIL

/*
 * h= naming every field the message has, its own DKIM-Signature too, and
 * then one more (legal: a name may be listed more often than it occurs).
 * libopendkim 2.11 wrote one pointer past an array sized by the fields it
 * held (heap corruption: an abort in the plain build, or later). Now an
 * ordinary signature that does not verify, whatever the field count.
 */
static void test_hlist_names_every_field(void **state)
{
    static const char *const names[] = { "From", "To", "Subject", "Date", "Message-ID" };

    (void) state;
    publish("sel", "example.org", &rsa2048, NULL);
    for (int nf = 1; nf <= (int) NELEM(names); nf++) {
        for (int extra = 1; extra <= 3; extra++) {
            struct tmsg t;
            str h = STR_INIT, v = STR_INIT;
            const struct dkim_results *rs;

            tmsg_init(&t, NULL, base_body);
            for (int i = 0; i < nf; i++) {
                msg_headers_add(&t.hs, names[i], " x", 2);
                str_addf(&h, "%s%s", i ? ":" : "", names[i]);
            }
            str_adds(&h, ":DKIM-Signature");
            for (int i = 0; i < extra; i++)
                str_addf(&h, ":%s", names[i % nf]);
            str_addf(&v, " v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel; h=%s; "
                         "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA",
                     str_cstr(&h));
            tmsg_prepend(&t, "DKIM-Signature", v.data, v.len);
            rs = verify(&t);
            assert_int_equal(rs->count, 1);
            if (rs->sig[0].result != DKIM_RESULT_FAIL)
                fail_msg("%d fields, %d more in h=: %s \"%s\"", nf, extra,
                         dkim_result_name(rs->sig[0].result), rs->sig[0].reason);
            str_free(&h);
            str_free(&v);
            tmsg_free(&t);
        }
    }
}

/*
 * A signature whose h= names DKIM-Signature makes the library read the
 * field it signs without verifying it; libopendkim 2.11 reads past the
 * end of an i= that ends in "=" or "=X", or is over 256 bytes. Such a
 * field is withheld and the signature that signs it is not verified.
 */
static void test_signed_field_unreadable_i(void **state)
{
    static const struct {
        const char *i;
        int readable;
    } cases[] = {
        { "@example.org", 1 },
        { "a=41@example.org", 1 },
        { "@example.org=", 0 },
        { "@example.org=4", 0 },
        { "@example.org =", 0 },
        { "a=4g@example.org", 0 },
        { NULL, 0 },          /* 300 bytes */
        { "@example.org; i=@example.org=", 0 },   /* a list rampart refuses, read loosely */
        { "@example.org; I=@example.org=4", 0 },
    };
    char long_i[320];

    (void) state;
    memset(long_i, 'a', 300);
    memcpy(long_i + 300 - strlen("@example.org"), "@example.org", strlen("@example.org") + 1);
    publish("sel", "example.org", &rsa2048, NULL);
    for (size_t c = 0; c < NELEM(cases); c++) {
        struct tmsg t;
        str top = STR_INIT, bottom = STR_INIT;
        const struct dkim_results *rs;

        tmsg_init(&t, NULL, base_body);
        str_adds(&top, " v=1; a=rsa-sha256; d=example.org; s=sel; h=from:dkim-signature; "
                       "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA");
        str_addf(&bottom, " v=1; a=rsa-sha256; d=example.net; s=sel; h=from; "
                          "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=AAAA; i=%s",
                 cases[c].i ? cases[c].i : long_i);
        msg_headers_add(&t.hs, "DKIM-Signature", top.data, top.len);
        msg_headers_add(&t.hs, "From", " alice@example.org", 18);
        msg_headers_add(&t.hs, "DKIM-Signature", bottom.data, bottom.len);
        rs = verify(&t);
        assert_int_equal(rs->count, 2);
        if (cases[c].readable) {
            assert_int_equal(rs->evaluated, 1);
            assert_int_equal(rs->sig[0].result, DKIM_RESULT_FAIL);
        } else {
            assert_int_equal(rs->evaluated, 0);
            assert_sig(rs, 0, DKIM_RESULT_POLICY, "signs a DKIM-Signature field that cannot be read safely");
        }
        /* the bottom one is never verified: i= is not within d= */
        assert_int_not_equal(rs->sig[1].result, DKIM_RESULT_PASS);
        str_free(&top);
        str_free(&bottom);
        tmsg_free(&t);
    }
}

/* ------------------------------------------------------------ bad signatures */

struct bad_case {
    const char *name;
    const char *value;        /* DKIM-Signature value; @BH@ and @B@ stand for valid ones */
    enum dkim_result want;
    const char *reason;
};

static void test_malformed_signatures(void **state)
{
    static char many_tags[2048], long_h[4200];
    const struct bad_case cases[] = {
        { "empty", "", DKIM_RESULT_NEUTRAL, "signature has no v=" },
        { "white space only", " \r\n\t", DKIM_RESULT_NEUTRAL, "signature has no v=" },
        { "only v=", " v=1", DKIM_RESULT_NEUTRAL, "signature has no a=" },
        { "tag without =", " v=1; a", DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "empty tag-spec", " v=1;; a=rsa-sha256", DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "tag name with digit first", " 1v=1", DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "space in tag name", " v x=1", DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "duplicate tag", " v=1; v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "duplicate tag other case", " v=1; a=rsa-sha256; d=example.org; D=evil.example; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "8-bit byte", " v=1; a=rsa-sha256; d=ex\xe4mple.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "control byte", " v=1; a=rsa-sha256; d=example.org; s=sel\x01; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "no d=", " v=1; a=rsa-sha256; s=sel; h=from; bh=@BH@; b=@B@", DKIM_RESULT_NEUTRAL, "signature has no d=" },
        { "no b=", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@", DKIM_RESULT_NEUTRAL,
          "signature has no b=" },
        { "v=2", " v=2; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@; b=@B@", DKIM_RESULT_NEUTRAL,
          "unknown signature version" },
        { "unknown a=", " v=1; a=rsa-md5; d=example.org; s=sel; h=from; bh=@BH@; b=@B@", DKIM_RESULT_NEUTRAL,
          "unknown algorithm" },
        { "space in d=", " v=1; a=rsa-sha256; d=exa mple.org; s=sel; h=from; bh=@BH@; b=@B@", DKIM_RESULT_NEUTRAL,
          "bad d=" },
        { "empty label in d=", " v=1; a=rsa-sha256; d=example..org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "bad d=" },
        { "bad s=", " v=1; a=rsa-sha256; d=example.org; s=se/l; h=from; bh=@BH@; b=@B@", DKIM_RESULT_NEUTRAL,
          "bad s=" },
        { "From not signed", " v=1; a=rsa-sha256; d=example.org; s=sel; h=to:subject; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "From not signed" },
        { "empty h= item", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from::to; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "bad h=" },
        { "h= too long", long_h, DKIM_RESULT_NEUTRAL, "h= too long" },
        { "bh= junk", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=%%%%; b=@B@", DKIM_RESULT_NEUTRAL,
          "bad bh=" },
        { "bh= short", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AAAA; b=@B@", DKIM_RESULT_NEUTRAL,
          "bad bh=" },
        { "bh= unpadded", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from;"
          " bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; b=@B@", DKIM_RESULT_NEUTRAL, "bad bh=" },
        { "b= junk", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@; b=!!!!", DKIM_RESULT_NEUTRAL,
          "bad b=" },
        { "b= bad padding", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@; b=AAAAA===",
          DKIM_RESULT_NEUTRAL, "bad b=" },
        { "b= data after padding", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@; b=AA==AA",
          DKIM_RESULT_NEUTRAL, "bad b=" },
        { "b= empty", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@; b=", DKIM_RESULT_NEUTRAL,
          "bad b=" },
        { "bad c=", " v=1; a=rsa-sha256; c=bogus/simple; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "unknown canonicalization" },
        { "bad body c=", " v=1; a=rsa-sha256; c=simple/x; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "unknown canonicalization" },
        { "q=other", " v=1; a=rsa-sha256; q=other; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "unsupported query method" },
        { "l= negative", " v=1; a=rsa-sha256; l=-5; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "bad l=" },
        { "l= huge", " v=1; a=rsa-sha256; l=99999999999999999999999; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "bad l=" },
        { "t= junk", " v=1; a=rsa-sha256; t=yesterday; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "bad t= or x=" },
        { "x= before t=", " v=1; a=rsa-sha256; t=2000000000; x=1999999999; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "x= not after t=" },
        { "i= outside d=", " v=1; a=rsa-sha256; i=joe@example.com; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "i= not within d=" },
        { "i= suffix but not subdomain", " v=1; a=rsa-sha256; i=joe@badexample.org; d=example.org; s=sel; h=from;"
          " bh=@BH@; b=@B@", DKIM_RESULT_NEUTRAL, "i= not within d=" },
        { "i= without @", " v=1; a=rsa-sha256; i=example.org; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_NEUTRAL, "bad i=" },
        { "too many tags", many_tags, DKIM_RESULT_NEUTRAL, "signature syntax error" },
        { "well formed, wrong signature", " v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=@BH@; b=@B@",
          DKIM_RESULT_FAIL, "signature verification failed" },
        { "well formed, i= subdomain", " v=1; a=rsa-sha256; i=@a.b.example.org; d=example.org; s=sel; h=From : To;"
          " bh=@BH@; b=@B@", DKIM_RESULT_FAIL, "signature verification failed" },
    };
    const char *bh = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const char *b = "dGhpcyBpcyBub3QgYSBzaWduYXR1cmUgYXQgYWxs";

    (void) state;
    {
        str s = STR_INIT;

        str_adds(&s, " v=1; a=rsa-sha256; d=example.org; s=sel; bh=@BH@; b=@B@");
        for (int i = 0; i < DKIM_MAX_TAGS; i++)
            str_addf(&s, "; z%d=1", i);
        str_adds(&s, "; h=from");
        assert_true((size_t) s.len < sizeof(many_tags));
        memcpy(many_tags, s.data, (size_t) s.len + 1);
        str_reset(&s);
        str_adds(&s, " v=1; a=rsa-sha256; d=example.org; s=sel; bh=@BH@; b=@B@; h=from");
        while (s.len < DKIM_MAX_HLIST_LEN + 100)
            str_adds(&s, ":to");
        assert_true((size_t) s.len < sizeof(long_h));
        memcpy(long_h, s.data, (size_t) s.len + 1);
        str_free(&s);
    }
    publish("sel", "example.org", &rsa2048, NULL);
    for (size_t i = 0; i < NELEM(cases); i++) {
        const struct bad_case *c = &cases[i];
        struct tmsg t;
        str v = STR_INIT;
        const char *p = c->value, *at;
        const struct dkim_results *rs;
        int q0 = dns_fixture_queries(r);

        while ((at = strchr(p, '@')) != NULL) {
            str_add(&v, p, at - p);
            if (strncmp(at, "@BH@", 4) == 0) {
                str_adds(&v, bh);
                p = at + 4;
            } else if (strncmp(at, "@B@", 3) == 0) {
                str_adds(&v, b);
                p = at + 3;
            } else {
                str_addc(&v, '@');
                p = at + 1;
            }
        }
        str_adds(&v, p);
        tmsg_base(&t);
        tmsg_prepend(&t, "DKIM-Signature", v.data, v.len);
        rs = verify(&t);
        if (rs->count != 1 || rs->sig[0].result != c->want || strcmp(rs->sig[0].reason, c->reason) != 0)
            fail_msg("case \"%s\": %s \"%s\", want %s \"%s\"", c->name, dkim_result_name(rs->sig[0].result),
                     rs->sig[0].reason, dkim_result_name(c->want), c->reason);
        /* Nothing to verify: no DNS. */
        if (c->want == DKIM_RESULT_NEUTRAL) {
            assert_int_equal(dns_fixture_queries(r), q0);
            assert_int_equal(rs->sig[0].evaluated, 0);
        }
        assert_int_equal(rs->result, c->want);
        str_free(&v);
        tmsg_free(&t);
    }
}

/* A NUL byte in the field: a syntax error, whatever follows. */
static void test_signature_with_nul(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    static const char v[] = " v=1; a=rsa-sha256; d=example.org;\0 s=sel; h=from; bh=x; b=y";

    (void) state;
    tmsg_base(&t);
    tmsg_prepend(&t, "DKIM-Signature", v, (ssize_t) sizeof(v) - 1);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_NEUTRAL, "signature syntax error");
    tmsg_free(&t);
}

/*
 * NUL bytes and bare CR in a signed field: no crash, no over-read. A NUL
 * never verifies; a bare CR counts as a line end, so a trailing one is
 * trailing white space to relaxed canonicalization.
 */
static void test_odd_bytes_in_signed_field(void **state)
{
    static const char *const values[] = { " Lu\0nch", " Lunch\0", " Lu\rnch", " Lunch\r", " Lu\r\r\nnch" };
    static const ssize_t lens[] = { 7, 7, 7, 7, 9 };
    static const int relaxed_pass[] = { 0, 0, 0, 1, 0 };
    struct tmsg t;
    const struct dkim_results *rs;

    (void) state;
    publish("sel", "example.org", &rsa2048, NULL);
    for (size_t i = 0; i < NELEM(values); i++) {
        for (int simple = 0; simple <= 1; simple++) {
            struct signopt so = sig_default;

            tmsg_base(&t);
            so.hc = simple ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
            sign_prepend(&t, &rsa2048, "sel", "example.org", &so);
            for (int h = 0; h < t.hs.n; h++)
                if (strcmp(t.hs.h[h].name, "Subject") == 0) {
                    mem_free(t.hs.h[h].value);
                    t.hs.h[h].value = mem_alloc(lens[i] + 1);
                    memcpy(t.hs.h[h].value, values[i], (size_t) lens[i] + 1);
                    t.hs.h[h].value_len = lens[i];
                }
            rs = verify(&t);
            if (!simple && relaxed_pass[i])
                assert_sig(rs, 0, DKIM_RESULT_PASS, "");
            else
                assert_sig(rs, 0, DKIM_RESULT_FAIL, "signature verification failed");
            tmsg_free(&t);
        }
    }
}

/* A small deterministic generator for the random-input test. */
static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(uint32_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return n ? rnd_state % n : 0;
}

static void rnd_text(str *s, int len)
{
    static const char alphabet[] = "abcXYZ019 \t\r\n<>()\"\\@,;:=./+-_\x00\x7f\x80\xe4\xff";

    for (int i = 0; i < len; i++)
        str_addc(s, alphabet[rnd(sizeof(alphabet) - 1)]);
}

/*
 * Random damage to fields, signatures and bodies: whatever the result, no
 * crash (run it under ASan). The second half with the line end repair on.
 */
static void test_random_input(void **state)
{
    char *sig;
    struct tmsg base;

    (void) state;
    publish("sel", "example.org", &rsa2048, NULL);
    tmsg_base(&base);
    sig = sign_msg(&base, &rsa2048, "sel", "example.org");
    tmsg_free(&base);
    for (int iter = 0; iter < 400; iter++) {
        struct tmsg t;
        str v = STR_INIT;
        const struct dkim_results *rs;

        if (iter == 200)
            lib_restart(1);
        tmsg_base(&t);
        str_adds(&v, sig);
        switch (rnd(5)) {
        case 0: {       /* a random From */
            str f = STR_INIT;

            rnd_text(&f, (int) rnd(iter % 50 == 0 ? 60000 : 300));
            mem_free(t.hs.h[0].value);
            t.hs.h[0].value = mem_alloc(f.len + 1);
            memcpy(t.hs.h[0].value, f.data ? f.data : "", (size_t) f.len);
            t.hs.h[0].value[f.len] = '\0';
            t.hs.h[0].value_len = f.len;
            str_free(&f);
            break;
        }
        case 1:         /* bytes of the signature changed */
            for (int k = (int) rnd(6) + 1; k > 0; k--) {
                str one = STR_INIT;

                rnd_text(&one, 1);
                v.data[rnd((uint32_t) v.len)] = one.data[0];
                str_free(&one);
            }
            break;
        case 2:         /* the signature cut short */
            str_truncate(&v, (ssize_t) rnd((uint32_t) v.len));
            break;
        case 3:         /* random signatures and fields around it */
            for (int k = (int) rnd(5); k > 0; k--) {
                str junk = STR_INIT;

                str_adds(&junk, " v=1; a=rsa-sha256; d=example.org; s=sel; h=from:dkim-signature; ");
                rnd_text(&junk, (int) rnd(200));
                tmsg_prepend(&t, rnd(2) ? "DKIM-Signature" : "X-Junk", junk.data, junk.len);
                str_free(&junk);
            }
            break;
        default:        /* a random body */
            str_reset(&t.body);
            rnd_text(&t.body, (int) rnd(3000));
            break;
        }
        tmsg_prepend(&t, "DKIM-Signature", v.data ? v.data : "", v.len);
        rs = verify_opts(&t, NULL, rnd(100) + 1, 0);
        assert_true(rs->count >= 1);
        assert_true(rs->result >= DKIM_RESULT_PASS && rs->result <= DKIM_RESULT_PERMERROR);
        for (int k = 0; k < rs->count; k++)
            assert_non_null(rs->sig[k].reason);
        str_free(&v);
        tmsg_free(&t);
    }
    free(sig);
}

/* What is known of a broken signature is still reported. */
static void test_broken_signature_fields(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;

    (void) state;
    tmsg_base(&t);
    tmsg_prepend(&t, "DKIM-Signature", " v=1; a=rsa-sha256; d=example.org; s=sel; i=@example.org; l=10;"
                 " h=from; bh=junk; b=ABCDEFGHIJKL", -1);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_NEUTRAL, "bad bh=");
    assert_string_equal(rs->sig[0].domain, "example.org");
    assert_string_equal(rs->sig[0].selector, "sel");
    assert_string_equal(rs->sig[0].identity, "@example.org");
    assert_string_equal(rs->sig[0].algorithm, "rsa-sha256");
    assert_string_equal(rs->sig[0].b, "ABCDEFGH");
    assert_int_equal(rs->sig[0].has_length, 1);
    assert_int_equal(rs->sig[0].length, 10);
    assert_int_equal(rs->result, DKIM_RESULT_NEUTRAL);
    tmsg_free(&t);

    tmsg_base(&t);
    tmsg_prepend(&t, "DKIM-Signature", " v=1; a=RSA-SHA256; d=exa/mple; s=; h=from; bh=x; b=", -1);
    rs = verify(&t);
    assert_null(rs->sig[0].domain);
    assert_null(rs->sig[0].selector);
    assert_string_equal(rs->sig[0].algorithm, "rsa-sha256");
    assert_string_equal(rs->sig[0].b, "");
    tmsg_free(&t);
}

/* "DKIM-Signature :" is a signature field too (the library thinks so). */
static void test_field_name_with_space(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    char *sig;

    (void) state;
    tmsg_base(&t);
    sig = sign_msg(&t, &rsa2048, "sel", "example.org");
    tmsg_prepend(&t, "DKIM-Signature ", sig, -1);
    publish("sel", "example.org", &rsa2048, NULL);
    rs = verify(&t);
    assert_int_equal(rs->count, 1);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    /* and when it is not the one verified */
    tmsg_prepend(&t, "DKIM-Signature", sig, -1);
    {
        struct dkim_options o;

        dkim_options_init(&o);
        o.max_signatures = 1;
        rs = verify_opts(&t, &o, 0, 0);
        assert_int_equal(rs->count, 2);
        assert_sig(rs, 0, DKIM_RESULT_PASS, "");
        assert_sig(rs, 1, DKIM_RESULT_POLICY, "not evaluated (over 1 signatures)");
    }
    free(sig);
    tmsg_free(&t);
}

/* ------------------------------------------------------------ limits */

static void test_500_signatures(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    char *sig;
    int64_t t0;

    (void) state;
    tmsg_base(&t);
    sig = sign_msg(&t, &rsa2048, "sel", "example.org");
    for (int i = 0; i < 500; i++)
        tmsg_prepend(&t, "DKIM-Signature", sig, -1);
    publish("sel", "example.org", &rsa2048, NULL);
    t0 = clock_now_ms();
    rs = verify(&t);
    fprintf(stderr, "# 500 identical signatures: %" PRId64 " ms\n", clock_now_ms() - t0);
    assert_int_equal(rs->count, 500);
    assert_int_equal(rs->evaluated, DEF_DKIM_MAX_SIGNATURES);
    for (int i = 0; i < 500; i++) {
        if (i < DEF_DKIM_MAX_SIGNATURES) {
            assert_sig(rs, i, DKIM_RESULT_PASS, "");
            assert_int_equal(rs->sig[i].evaluated, 1);
        } else {
            assert_sig(rs, i, DKIM_RESULT_POLICY, "not evaluated (over 8 signatures)");
            assert_int_equal(rs->sig[i].evaluated, 0);
            assert_string_equal(rs->sig[i].domain, "example.org");
        }
    }
    assert_int_equal(rs->result, DKIM_RESULT_PASS);
    assert_int_equal(dns_fixture_queries(r), 1);
    free(sig);
    tmsg_free(&t);
}

/* 500 distinct signatures (different keys, l= values): only the cap costs anything. */
static void test_500_distinct_signatures(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    int64_t t0;

    (void) state;
    tmsg_base(&t);
    str_reset(&t.body);
    while (t.body.len < 1000000)
        str_adds(&t.body, "a line of body text to hash, again and again\r\n");
    for (int i = 0; i < 500; i++) {
        str v = STR_INIT;

        str_addf(&v, " v=1; a=rsa-sha256; c=simple/simple; d=d%d.example; s=s%d; l=%d; h=from:to:subject;"
                 " bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA%04d", i, i, 1000 + i, i);
        tmsg_prepend(&t, "DKIM-Signature", v.data, v.len);
        str_free(&v);
    }
    t0 = clock_now_ms();
    rs = verify_opts(&t, NULL, 65536, 0);
    fprintf(stderr, "# 500 distinct signatures, 1 MB body: %" PRId64 " ms\n", clock_now_ms() - t0);
    assert_int_equal(rs->count, 500);
    assert_int_equal(rs->evaluated, 8);
    assert_int_equal(dns_fixture_queries(r), 8);
    for (int i = 0; i < 8; i++)
        assert_sig(rs, i, DKIM_RESULT_PERMERROR, "no key (NXDOMAIN)");
    for (int i = 8; i < 500; i++)
        assert_sig(rs, i, DKIM_RESULT_POLICY, "not evaluated (over 8 signatures)");
    tmsg_free(&t);
}

/* Malformed signatures do not use up the limit. */
static void test_malformed_do_not_count(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    char *sig;

    (void) state;
    tmsg_base(&t);
    sig = sign_msg(&t, &ed25519, "ed", "example.org");
    tmsg_prepend(&t, "DKIM-Signature", sig, -1);
    for (int i = 0; i < 500; i++)
        tmsg_prepend(&t, "DKIM-Signature", " v=1; junk", -1);
    publish("ed", "example.org", &ed25519, NULL);
    rs = verify(&t);
    assert_int_equal(rs->count, 501);
    assert_int_equal(rs->evaluated, 1);
    assert_sig(rs, 0, DKIM_RESULT_NEUTRAL, "signature syntax error");
    assert_sig(rs, 500, DKIM_RESULT_PASS, "");
    assert_int_equal(rs->result, DKIM_RESULT_PASS);
    free(sig);
    tmsg_free(&t);
}

static void test_max_signatures_zero(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct dkim_options o;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "sel", "example.org", NULL);
    publish("sel", "example.org", &rsa2048, NULL);
    dkim_options_init(&o);
    o.max_signatures = 0;
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_POLICY, "not evaluated (over 0 signatures)");
    assert_int_equal(rs->result, DKIM_RESULT_POLICY);
    assert_int_equal(dns_fixture_queries(r), 0);
    tmsg_free(&t);
}

/*
 * A signature whose h= covers earlier DKIM-Signature fields still verifies
 * when those fields are over the limit (they are given to the library
 * without being verified).
 */
static void test_signature_over_signatures(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    struct dkim_options o;

    (void) state;
    tmsg_base(&t);
    sign_prepend(&t, &rsa2048, "one", "a.example", NULL);
    sign_prepend(&t, &ed25519, "two", "b.example", NULL);      /* signs the first */
    assert_non_null(strcasestr(t.hs.h[0].value, "dkim-signature"));
    sign_prepend(&t, &rsa1024, "three", "c.example", NULL);    /* signs both */
    publish("one", "a.example", &rsa2048, NULL);
    publish("two", "b.example", &ed25519, NULL);
    publish("three", "c.example", &rsa1024, NULL);

    rs = verify(&t);
    assert_int_equal(rs->count, 3);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_sig(rs, 1, DKIM_RESULT_PASS, "");
    assert_sig(rs, 2, DKIM_RESULT_PASS, "");

    dkim_options_init(&o);
    o.max_signatures = 1;
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_sig(rs, 1, DKIM_RESULT_POLICY, "not evaluated (over 1 signatures)");
    assert_sig(rs, 2, DKIM_RESULT_POLICY, "not evaluated (over 1 signatures)");
    assert_int_equal(dns_fixture_queries(r), 3 + 1);

    /* The middle one alone: it covers the bottom one. */
    tmsg_remove(&t, "DKIM-Signature");
    rs = verify_opts(&t, &o, 0, 0);
    assert_sig(rs, 0, DKIM_RESULT_PASS, "");
    assert_sig(rs, 1, DKIM_RESULT_POLICY, "not evaluated (over 1 signatures)");
    tmsg_free(&t);
}

/* h= naming more DKIM-Signature fields than the limit. */
static void test_signs_too_many_signatures(void **state)
{
    struct tmsg t;
    const struct dkim_results *rs;
    str v = STR_INIT;

    (void) state;
    tmsg_base(&t);
    for (int i = 0; i < DKIM_MAX_COVERED + 1; i++)
        tmsg_prepend(&t, "DKIM-Signature", " v=1; broken", -1);
    str_adds(&v, " v=1; a=rsa-sha256; d=example.org; s=sel; h=from");
    for (int i = 0; i < DKIM_MAX_COVERED + 1; i++)
        str_adds(&v, ":dkim-signature");
    str_adds(&v, "; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA");
    tmsg_prepend(&t, "DKIM-Signature", v.data, v.len);
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_POLICY, "signs too many DKIM-Signature fields");
    assert_int_equal(rs->evaluated, 0);
    assert_int_equal(dns_fixture_queries(r), 0);

    /* As many as allowed: verified (and failing, the b= being junk). */
    tmsg_remove(&t, "DKIM-Signature");
    tmsg_remove(&t, "DKIM-Signature");
    str_reset(&v);
    str_adds(&v, " v=1; a=rsa-sha256; d=example.org; s=sel; h=from");
    for (int i = 0; i < DKIM_MAX_COVERED; i++)
        str_adds(&v, ":dkim-signature");
    str_adds(&v, "; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA");
    tmsg_prepend(&t, "DKIM-Signature", v.data, v.len);
    publish("sel", "example.org", &rsa2048, NULL);
    rs = verify(&t);
    assert_int_equal(rs->count, DKIM_MAX_COVERED + 1);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "signature verification failed");
    str_free(&v);
    tmsg_free(&t);
}

/* ------------------------------------------------------------ RFC 8463 */

/* Read a file under tests/dkim into s. */
static void read_data(const char *name, str *s)
{
    const char *top = getenv("top_srcdir");
    char path[4096];
    char buf[4096];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/dkim/%s", top ? top : ".", name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        str_add(s, buf, (ssize_t) n);
    fclose(f);
}

/* Split a message file into header fields (as a milter gives them) and body. */
static void parse_message(const str *raw, struct tmsg *t)
{
    const char *p = raw->data, *end = raw->data + raw->len;

    tmsg_init(t, NULL, "");
    while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
        const char *colon = memchr(p, ':', (size_t) (end - p)), *v, *e;
        char *name;

        assert_non_null(colon);
        /* the value runs to the line end that is not followed by white space */
        v = colon + 1;
        e = v;
        for (;;) {
            const char *nl = memchr(e, '\n', (size_t) (end - e));

            assert_non_null(nl);
            e = nl + 1;
            if (e >= end || (*e != ' ' && *e != '\t'))
                break;
        }
        name = mem_strndup(p, colon - p);
        /* drop the line end */
        {
            const char *ve = e - 1;

            if (ve > v && ve[-1] == '\r')
                ve--;
            msg_headers_add(&t->hs, name, v, ve - v);
        }
        mem_free(name);
        p = e;
    }
    p += *p == '\r' ? 2 : 1;
    if (p < end)
        str_add(&t->body, p, end - p);
}

/* Load a zone file in RFC presentation form: name IN TXT ( "..." "..." ). */
static void load_zone(const str *z)
{
    const char *p = z->data, *end = z->data + z->len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        char name[300];
        int len;
        str txt = STR_INIT;
        int paren = 0;

        if (eol == NULL)
            eol = end;
        if (p == eol || *p == ';') {
            p = eol + 1;
            continue;
        }
        len = (int) strcspn(p, " \t");
        assert_true(len > 1 && len < (int) sizeof(name));
        memcpy(name, p, (size_t) len);
        name[len - (p[len - 1] == '.')] = '\0';
        p += len;
        /* strings up to the closing parenthesis, or the end of the line */
        for (; p < end; p++) {
            if (*p == '(') {
                paren = 1;
            } else if (*p == ')') {
                p++;
                break;
            } else if (*p == '"') {
                const char *q = memchr(p + 1, '"', (size_t) (end - p - 1));

                assert_non_null(q);
                str_add(&txt, p + 1, q - p - 1);
                p = q;
            } else if (*p == '\n' && !paren) {
                break;
            }
        }
        assert_int_equal(dns_fixture_add(r, name, DNS_T_TXT, txt.data), 0);
        str_free(&txt);
        eol = memchr(p, '\n', (size_t) (end - p));
        p = eol ? eol + 1 : end;
    }
}

static void test_rfc8463_example(void **state)
{
    str raw = STR_INIT, zone = STR_INIT, crlf = STR_INIT;
    struct tmsg t, t2;
    const struct dkim_results *rs;

    (void) state;
    read_data("rfc8463.eml", &raw);
    read_data("rfc8463.zone", &zone);
    load_zone(&zone);
    /* The file has LF line ends; Postfix hands a milter CRLF. */
    for (ssize_t i = 0; i < raw.len; i++) {
        if (raw.data[i] == '\n')
            str_addc(&crlf, '\r');
        str_addc(&crlf, raw.data[i]);
    }
    parse_message(&crlf, &t);
    assert_int_equal(t.hs.n, 7);
    parse_message(&raw, &t2);
    assert_int_equal(t2.hs.n, 7);

    for (size_t chunk = 0; chunk <= 7; chunk += 7) {
        rs = verify_opts(&t, NULL, chunk, 0);
        assert_int_equal(rs->count, 2);
        assert_int_equal(rs->result, DKIM_RESULT_PASS);

        assert_sig(rs, 0, DKIM_RESULT_PASS, "");
        assert_string_equal(rs->sig[0].algorithm, "ed25519-sha256");
        assert_string_equal(rs->sig[0].domain, "football.example.com");
        assert_string_equal(rs->sig[0].identity, "@football.example.com");
        assert_string_equal(rs->sig[0].selector, "brisbane");
        assert_string_equal(rs->sig[0].b, "/gCrinpc");
        assert_int_equal(rs->sig[0].key_bits, 256);

        assert_sig(rs, 1, DKIM_RESULT_PASS, "");
        assert_string_equal(rs->sig[1].algorithm, "rsa-sha256");
        assert_string_equal(rs->sig[1].selector, "test");
        assert_string_equal(rs->sig[1].b, "F45dVWDf");
        assert_int_equal(rs->sig[1].key_bits, 1024);

        /* The file as it is: its header folds are made CRLF, its body is not. */
        rs = verify_opts(&t2, NULL, chunk, 0);
        assert_int_equal(rs->result, DKIM_RESULT_FAIL);
        assert_sig(rs, 0, DKIM_RESULT_FAIL, "body hash mismatch");
        assert_sig(rs, 1, DKIM_RESULT_FAIL, "body hash mismatch");
        assert_int_equal(rs->sig[0].key_bits, 256);
        assert_int_equal(rs->sig[1].key_bits, 1024);
    }

    /* one changed word in the body breaks both */
    str_set(&t.body, "Hi.\r\n\r\nWe won the game.  Are you hungry yet?\r\n\r\nJoe.\r\n");
    rs = verify(&t);
    assert_sig(rs, 0, DKIM_RESULT_FAIL, "body hash mismatch");
    assert_sig(rs, 1, DKIM_RESULT_FAIL, "body hash mismatch");

    /* With the repair on, the file as it is passes. */
    lib_restart(1);
    for (size_t chunk = 0; chunk <= 7; chunk += 7) {
        rs = verify_opts(&t2, NULL, chunk, 0);
        assert_int_equal(rs->result, DKIM_RESULT_PASS);
        assert_sig(rs, 0, DKIM_RESULT_PASS, "");
        assert_sig(rs, 1, DKIM_RESULT_PASS, "");
    }
    tmsg_free(&t);
    tmsg_free(&t2);
    str_free(&raw);
    str_free(&zone);
    str_free(&crlf);
}

/* ------------------------------------------------------------ threads */

struct thread_arg {
    const struct tmsg *t;
    int passes;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;

    for (int i = 0; i < 25; i++) {
        struct dkim_msg *m = dkim_msg_start(r, &a->t->hs, NULL, 0);
        const struct dkim_results *rs;

        dkim_msg_body(m, a->t->body.data, (size_t) a->t->body.len);
        rs = dkim_msg_finish(m);
        a->passes += rs->count == 2 && rs->sig[0].result == DKIM_RESULT_PASS &&
                     rs->sig[1].result == DKIM_RESULT_PASS;
        dkim_msg_free(m);
    }
    return NULL;
}

/* One library handle, several messages at once. */
static void test_threads(void **state)
{
    struct tmsg t;
    pthread_t th[4];
    struct thread_arg args[4];
    char *a, *b;

    (void) state;
    tmsg_base(&t);
    a = sign_msg(&t, &rsa2048, "sel", "example.org");
    b = sign_msg(&t, &ed25519, "ed", "example.org");
    tmsg_prepend(&t, "DKIM-Signature", a, -1);
    tmsg_prepend(&t, "DKIM-Signature", b, -1);
    publish("sel", "example.org", &rsa2048, NULL);
    publish("ed", "example.org", &ed25519, NULL);
    for (int i = 0; i < 4; i++) {
        args[i].t = &t;
        args[i].passes = 0;
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].passes, 25);
    }
    free(a);
    free(b);
    tmsg_free(&t);
}

static void test_names(void **state)
{
    (void) state;
    assert_string_equal(dkim_result_name(DKIM_RESULT_NONE), "none");
    assert_string_equal(dkim_result_name(DKIM_RESULT_PASS), "pass");
    assert_string_equal(dkim_result_name(DKIM_RESULT_FAIL), "fail");
    assert_string_equal(dkim_result_name(DKIM_RESULT_NEUTRAL), "neutral");
    assert_string_equal(dkim_result_name(DKIM_RESULT_POLICY), "policy");
    assert_string_equal(dkim_result_name(DKIM_RESULT_TEMPERROR), "temperror");
    assert_string_equal(dkim_result_name(DKIM_RESULT_PERMERROR), "permerror");
    assert_string_equal(dkim_alg_name(DKIM_ALG_ED25519_SHA256), "ed25519-sha256");
    assert_string_equal(dkim_alg_name(DKIM_ALG_RSA_SHA256), "rsa-sha256");
    assert_string_equal(dkim_alg_name(DKIM_ALG_RSA_SHA1), "rsa-sha1");
    /* startup again: nothing happens */
    assert_int_equal(dkim_startup(0), 0);
    /* but the other setting is refused: the library's options are fixed */
    expect_errors = 1;
    assert_int_equal(dkim_startup(1), -1);
    assert_int_equal(log_errors, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_names),
        T(test_rsa_pass),
        T(test_ed25519_pass),
        T(test_unsigned),
        T(test_body_tampered),
        T(test_header_tampered),
        T(test_signed_header_removed),
        T(test_signed_header_missing),
        T(test_revoked_key),
        T(test_key_sizes),
        T(test_rsa_sha1),
        T(test_two_signatures_one_failing),
        T(test_expired_and_future),
        T(test_length_tag),
        T(test_key_timeout),
        T(test_key_timeout_option),
        T(test_abort_pending),
        T(test_key_records),
        T(test_key_flags),
        T(test_shared_key_query),
        T(test_canonicalization),
        T(test_bare_lf_body),
        T(test_nul_in_body),
        T(test_hlist_names_every_field),
        T(test_signed_field_unreadable_i),
        T(test_malformed_signatures),
        T(test_signature_with_nul),
        T(test_odd_bytes_in_signed_field),
        T(test_random_input),
        T(test_broken_signature_fields),
        T(test_field_name_with_space),
        T(test_500_signatures),
        T(test_500_distinct_signatures),
        T(test_malformed_do_not_count),
        T(test_max_signatures_zero),
        T(test_signature_over_signatures),
        T(test_signs_too_many_signatures),
        T(test_rfc8463_example),
        T(test_threads),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
