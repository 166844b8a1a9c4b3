/*
 * test_uri.c - URL host extraction: host normalisation (case, IDN to
 * punycode, percent escapes, IPv4 forms, literals), URLs in plain text,
 * quoted-printable (soft breaks inside URLs), base64 and HTML (entities),
 * MIME structure, every limit, and the public suffix table. Every
 * extraction case is also fed one byte at a time and in odd-sized
 * chunks, which must not change the result.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem.h"
#include "msg.h"
#include "str.h"
#include "uri.h"
#include "util.h"

/* ------------------------------------------------------------ hosts */

struct host_case {
    const char *in;
    int flags;
    enum uri_host_kind kind;
    const char *out;
};

static const struct host_case host_cases[] = {
    { "Example.COM", 0, URI_HOST_DOMAIN, "example.com" },
    { "example.com.", 0, URI_HOST_DOMAIN, "example.com" },
    { "example..com", 0, URI_HOST_BAD, "" },
    { ".example.com", 0, URI_HOST_BAD, "" },
    { "example.com..", 0, URI_HOST_BAD, "" },
    { "a_b-c.example", 0, URI_HOST_DOMAIN, "a_b-c.example" },
    { "ex ample.com", 0, URI_HOST_BAD, "" },
    { "ex@mple.com", 0, URI_HOST_BAD, "" },
    { "xn--bcher-kva.example", 0, URI_HOST_DOMAIN, "xn--bcher-kva.example" },
    /* IDN: UTF-8 labels become punycode (RFC 3492). */
    { "b\xc3\xbc" "cher.example", 0, URI_HOST_DOMAIN, "xn--bcher-kva.example" },
    { "M\xc3\xbcnchen.DE", 0, URI_HOST_DOMAIN, "xn--mnchen-3ya.de" },
    { "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", 0, URI_HOST_DOMAIN,
      "xn--r8jz45g.xn--zckzah" },
    { "\xc3\xbc.example", 0, URI_HOST_DOMAIN, "xn--tda.example" },
    /* Ideographic and full-width dots separate labels. */
    { "example\xe3\x80\x82" "com", 0, URI_HOST_DOMAIN, "example.com" },
    { "example\xef\xbc\x8e" "com", 0, URI_HOST_DOMAIN, "example.com" },
    { "\xff.com", 0, URI_HOST_BAD, "" },                 /* not UTF-8 */
    { "\xc0\xae.com", 0, URI_HOST_BAD, "" },             /* overlong UTF-8 */
    { "a\xc2\xa0" "b.com", 0, URI_HOST_BAD, "" },       /* no-break space */
    /* Percent escapes, only when asked. */
    { "%65vil.test", URI_HOST_PCT, URI_HOST_DOMAIN, "evil.test" },
    { "%65vil.test", 0, URI_HOST_BAD, "" },
    { "evil%2Etest", URI_HOST_PCT, URI_HOST_DOMAIN, "evil.test" },
    { "evil%2", URI_HOST_PCT, URI_HOST_BAD, "" },
    { "evil%00.test", URI_HOST_PCT, URI_HOST_BAD, "" },
    { "evil%zz.test", URI_HOST_PCT, URI_HOST_BAD, "" },
    /* IPv4. */
    { "192.0.2.1", 0, URI_HOST_IPV4, "192.0.2.1" },
    { "192.0.2.1.", 0, URI_HOST_IPV4, "192.0.2.1" },
    { "256.0.2.1", 0, URI_HOST_BAD, "" },
    { "192.0.2", 0, URI_HOST_BAD, "" },
    { "3221225985", 0, URI_HOST_BAD, "" },
    { "example.123", 0, URI_HOST_BAD, "" },
    { "3221225985", URI_HOST_LOOSE_IPV4, URI_HOST_IPV4, "192.0.2.1" },
    { "0xC0000201", URI_HOST_LOOSE_IPV4, URI_HOST_IPV4, "192.0.2.1" },
    { "0300.0.02.01", URI_HOST_LOOSE_IPV4, URI_HOST_IPV4, "192.0.2.1" },
    { "192.0.513", URI_HOST_LOOSE_IPV4, URI_HOST_IPV4, "192.0.2.1" },
    { "192.0x0.2.1", URI_HOST_LOOSE_IPV4, URI_HOST_IPV4, "192.0.2.1" },
    { "1.2.3.4.5", URI_HOST_LOOSE_IPV4, URI_HOST_BAD, "" },
    { "4294967296", URI_HOST_LOOSE_IPV4, URI_HOST_BAD, "" },
    { "09.1.1.1", URI_HOST_LOOSE_IPV4, URI_HOST_BAD, "" },
    { "0xdead.example", URI_HOST_LOOSE_IPV4, URI_HOST_DOMAIN, "0xdead.example" },
    { "example.0xzz", URI_HOST_LOOSE_IPV4, URI_HOST_DOMAIN, "example.0xzz" },
    /* Literals. */
    { "[192.0.2.1]", 0, URI_HOST_IPV4, "192.0.2.1" },
    { "[IPv6:2001:DB8::1]", 0, URI_HOST_IPV6, "2001:db8::1" },
    { "[2001:db8:0:0:0:0:0:1]", 0, URI_HOST_IPV6, "2001:db8::1" },
    { "[::ffff:192.0.2.1]", 0, URI_HOST_IPV4, "192.0.2.1" },
    { "[fe80::1%25eth0]", 0, URI_HOST_BAD, "" },
    { "[not an address]", 0, URI_HOST_BAD, "" },
    { "[]", 0, URI_HOST_BAD, "" },
    { "", 0, URI_HOST_BAD, "" },
    { ".", 0, URI_HOST_BAD, "" },
};

static void test_host_normalize(void **state)
{
    str out = STR_INIT;

    (void) state;
    for (size_t i = 0; i < NELEM(host_cases); i++) {
        const struct host_case *c = &host_cases[i];
        enum uri_host_kind k = uri_host_normalize(c->in, (ssize_t) strlen(c->in), c->flags, &out);

        if (k != c->kind || strcmp(str_cstr(&out), c->out) != 0)
            fail_msg("case %zu \"%s\": kind %d \"%s\", want %d \"%s\"", i, c->in, k, str_cstr(&out),
                     c->kind, c->out);
    }
    str_free(&out);
}

/* Label and name length limits. */
static void test_host_limits(void **state)
{
    str in = STR_INIT, out = STR_INIT;

    (void) state;
    for (int i = 0; i < 63; i++)
        str_addc(&in, 'a');
    str_adds(&in, ".example");
    assert_int_equal(uri_host_normalize(in.data, in.len, 0, &out), URI_HOST_DOMAIN);
    str_reset(&in);
    for (int i = 0; i < 64; i++)
        str_addc(&in, 'a');
    str_adds(&in, ".example");
    assert_int_equal(uri_host_normalize(in.data, in.len, 0, &out), URI_HOST_BAD);
    /* 253 characters pass, 254 do not. */
    str_reset(&in);
    while (in.len < 253 - 4)
        str_adds(&in, "abc.");
    while (in.len < 253)
        str_addc(&in, 'x');
    assert_int_equal(in.len, 253);
    assert_int_equal(uri_host_normalize(in.data, in.len, 0, &out), URI_HOST_DOMAIN);
    str_addc(&in, 'x');
    assert_int_equal(uri_host_normalize(in.data, in.len, 0, &out), URI_HOST_BAD);
    /* A label of 60 characters that punycodes to 66 ("xn--tda" and 59 "a"). */
    str_reset(&in);
    for (int i = 0; i < 60; i++)
        str_adds(&in, "\xc3\xbc");
    str_adds(&in, ".example");
    assert_int_equal(uri_host_normalize(in.data, in.len, 0, &out), URI_HOST_BAD);
    /* Input far too long is not even looked at. */
    str_reset(&in);
    for (int i = 0; i < 5000; i++)
        str_addc(&in, 'a');
    assert_int_equal(uri_host_normalize(in.data, in.len, 0, &out), URI_HOST_BAD);
    str_free(&in);
    str_free(&out);
}

/* RFC 3492 section 7.1 samples, as code points. */
static void test_punycode(void **state)
{
    static const unsigned int arabic[] = {
        0x0644, 0x064A, 0x0647, 0x0645, 0x0627, 0x0628, 0x062A, 0x0643, 0x0644, 0x0645, 0x0648,
        0x0634, 0x0639, 0x0631, 0x0628, 0x064A, 0x061F,
    };
    static const unsigned int chinese[] = {
        0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0, 0x4E48, 0x4E0D, 0x8BF4, 0x4E2D, 0x6587,
    };
    static const unsigned int mixed[] = {
        0x3072, 0x3068, 0x3064, 0x5C4B, 0x6839, 0x306E, 0x4E0B, 0x0032,
    };
    str out = STR_INIT;

    (void) state;
    assert_int_equal(uri_punycode_encode(arabic, (int) NELEM(arabic), &out), 0);
    assert_string_equal(out.data, "egbpdaj6bu4bxfgehfvwxn");
    str_reset(&out);
    assert_int_equal(uri_punycode_encode(chinese, (int) NELEM(chinese), &out), 0);
    assert_string_equal(out.data, "ihqwcrb4cv8a8dqg056pqjye");
    str_reset(&out);
    assert_int_equal(uri_punycode_encode(mixed, (int) NELEM(mixed), &out), 0);
    assert_string_equal(out.data, "2-u9tlzr9756bt3uc0v");
    str_free(&out);
}

/* ------------------------------------------------------------ extraction */

struct extract_case {
    const char *name;
    int whole;                   /* body includes the header */
    const char *content_type;    /* top-level, when not whole */
    const char *cte;
    const char *body;
    const char *hosts;           /* expected, space separated, in order */
};

static const struct extract_case extract_cases[] = {
    { "plain", 0, NULL, NULL,
      "Visit http://Evil.Test/path and https://www.example.com:8080/x?y=1. Bye\n",
      "evil.test www.example.com" },
    { "userinfo", 0, NULL, NULL,
      "http://user:pass@evil.test/ http://good.test@other.test/ http://a@b@c.test/\n",
      "evil.test other.test c.test" },
    { "ip hosts", 0, NULL, NULL,
      "http://192.0.2.1/ http://3221225986/x http://0xC0000203/ http://[2001:db8::1]:80/ "
      "http://[::ffff:192.0.2.4]/\n",
      "192.0.2.1 192.0.2.2 192.0.2.3 2001:db8::1 192.0.2.4" },
    { "www without scheme", 0, NULL, NULL,
      "see www.Evil.test. or (www.paren.test) but not awww.no.test or x.www.no2.test\n",
      "www.evil.test www.paren.test" },
    { "delimiters", 0, NULL, NULL,
      "(http://paren.test) <http://angle.test> \"http://quote.test\" 'http://apos.test' "
      "http://comma.test,http://semi.test;x http://port.test:8080 http://hash.test#x "
      "http://query.test?x http://back.test\\path\n",
      "paren.test angle.test quote.test apos.test comma.test semi.test port.test hash.test "
      "query.test back.test" },
    { "schemes and slashes", 0, NULL, NULL,
      "HTTPS://upper.test ftp://ftp.test/ http:/one.test http:\\\\back2.test xhttp://no.test "
      "mailto:user@mail.test http:no-slash.test\n",
      "upper.test ftp.test one.test back2.test" },
    { "redirector", 0, NULL, NULL,
      "http://r.test/?u=http://evil.test/&v=https%3A%2F%2Fenc.test http://r.test/again\n",
      "r.test evil.test" },
    { "unusable hosts", 0, NULL, NULL,
      "http://localhost/ http:// http://-/ http://a..b.test/ http://%zz.test/ http://[::1/ "
      "http://ok.test/\n",
      "ok.test" },
    { "IDN", 0, NULL, NULL,
      "http://b\xc3\xbc" "cher.example/ http://xn--mnchen-3ya.de/ http://\xe4\xbe\x8b\xe3\x81\x88"
      ".\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88/\n",
      "xn--bcher-kva.example xn--mnchen-3ya.de xn--r8jz45g.xn--zckzah" },
    { "unicode punctuation ends a host", 0, NULL, NULL,
      "\xe2\x80\x9chttp://quoted.test\xe2\x80\x9d and http://full.test\xe3\x80\x82 "
      "http://nbsp.test\xc2\xa0x\n",
      "quoted.test full.test nbsp.test" },
    { "percent-encoded host", 0, NULL, NULL,
      "http://%65%76%69%6c.test/ http://evil%2etest/\n",
      "evil.test" },
    { "duplicates counted once", 0, NULL, NULL,
      "http://a.test/1 http://A.TEST/2 http://a.test./3 http://b.test/\n",
      "a.test b.test" },
    { "quoted-printable soft breaks", 0, "text/plain", "quoted-printable",
      "Go to http://ev=\r\nil.test/ and http://x=2Etest/ or http://long-=\r\n=\r\nname.test/\r\n"
      "and http://ws.test=  \r\n/path and http://broken=ZZ.test/ and =3D\r\n",
      "evil.test x.test long-name.test ws.test" },
    { "quoted-printable LF only", 0, NULL, "Quoted-Printable",
      "http://lf-=\nonly.test/\n",
      "lf-only.test" },
    { "base64 text", 0, "text/plain; charset=utf-8", "base64",
      /* "go to http://b64.test/ now\nand www.second.test\n" */
      "Z28gdG8gaHR0cDovL2I2NC50ZXN0LyBub3cKYW5kIHd3dy5zZWNvbmQudGVzdAo=\r\n",
      "b64.test www.second.test" },
    { "base64 split oddly, junk ignored", 0, NULL, "base64",
      "Z28gdG8gaHR0cDov\r\nL2I2NC!!50ZXN0\r\nLyBub3cK\r\n",
      "b64.test" },
    { "html entities", 0, "text/html", NULL,
      "<a href=\"http&#58;//colon.test/\">x</a> <a href='https&colon;&sol;&sol;named.test'>y</a>\n"
      "&lt;http://lt.test&gt; http://dot&#46;test/ http://hex&#x2E;test/ "
      "<a href=http://bare.test>z</a> http://amp.test/?a=1&amp;b=2 &amp http://nosemi&#46test\n",
      "colon.test named.test lt.test dot.test hex.test bare.test amp.test nosemi.test" },
    { "html entity split across a qp soft break", 0, "text/html", "quoted-printable",
      "<a href=3D\"http://split&#4=\r\n6;test/\">x</a>\r\n",
      "split.test" },
    { "html is not read as html when plain", 0, "text/plain", NULL,
      "http://plain&#46;test/\n",
      "" },
    { "attachment skipped", 0, "application/octet-stream", NULL,
      "http://attached.test/\n",
      "" },
    { "multipart", 0, "multipart/mixed; boundary=\"b1\"", NULL,
      "preamble http://pre.test/\r\n"
      "--b1\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "one http://one.test/\r\n"
      "--b1notaboundary http://notb.test/\r\n"
      "--b1\r\n"
      "Content-Type: image/png\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n"
      "aHR0cDovL2ltYWdlLnRlc3Qv\r\n"
      "--b1\r\n"
      "Content-type : TEXT/HTML ; charset=\"x\"\r\n"
      "Content-Transfer-Encoding:\r\n"
      "  quoted-printable\r\n"
      "\r\n"
      "<a href=3D\"http://two.test/\">\r\n"
      "--b1--   \r\n"
      "epilogue http://epi.test/\r\n",
      "one.test notb.test two.test" },
    { "nested multipart, missing inner close", 0, "multipart/mixed; boundary=outer", NULL,
      "--outer\r\n"
      "Content-Type: multipart/alternative; boundary=\"in ner\"\r\n"
      "\r\n"
      "--in ner\r\n"
      "\r\n"
      "default type is text: http://inner.test/\r\n"
      "--outer\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "http://after.test/\r\n"
      "--outer--\r\n",
      "inner.test after.test" },
    { "first part without header fields", 0, "multipart/mixed; boundary=b", NULL,
      "--b\r\n\r\nhttp://noheader.test/\r\n--b--\r\n",
      "noheader.test" },
    { "multipart without boundary read as text", 0, "multipart/mixed", NULL,
      "http://noboundary.test/\n",
      "noboundary.test" },
    { "message/rfc822", 0, "multipart/mixed; boundary=m", NULL,
      "--m\r\n"
      "Content-Type: message/rfc822\r\n"
      "\r\n"
      "Subject: inner\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "http://inside&#46;test/\r\n"
      "--m--\r\n",
      "inside.test" },
    { "whole message", 1, NULL, NULL,
      "From: a@b.test\r\n"
      "Subject: http://subject.test/ is a header, not read\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "http://whole=\r\n.test/\r\n",
      "whole.test" },
    { "whole message without type", 1, NULL, NULL,
      "Subject: x\n\nhttp://lf.test/\n",
      "lf.test" },
};

/* Run a parser over a case, feeding chunk bytes at a time (0: all at once). */
static struct uri_parser *run_case(const struct extract_case *c, ssize_t chunk, const struct uri_limits *lim)
{
    struct uri_parser *p = uri_parser_new(lim, c->whole ? URI_WHOLE_MESSAGE : 0);
    ssize_t len = (ssize_t) strlen(c->body);

    if (!c->whole && (c->content_type || c->cte))
        uri_parser_set_type(p, c->content_type, c->cte);
    if (chunk <= 0)
        chunk = len;
    for (ssize_t i = 0; i < len; i += chunk)
        uri_parser_feed(p, c->body + i, len - i < chunk ? len - i : chunk);
    uri_parser_end(p);
    return p;
}

/* The hosts found, space separated. */
static void hosts_text(const struct uri_parser *p, str *out)
{
    str_reset(out);
    for (int i = 0; i < uri_parser_count(p); i++) {
        if (i > 0)
            str_addc(out, ' ');
        str_adds(out, uri_parser_host(p, i)->name);
    }
}

static void test_extract(void **state)
{
    static const ssize_t chunks[] = { 0, 1, 7, 64 };
    str got = STR_INIT;

    (void) state;
    for (size_t i = 0; i < NELEM(extract_cases); i++) {
        for (size_t k = 0; k < NELEM(chunks); k++) {
            struct uri_parser *p = run_case(&extract_cases[i], chunks[k], NULL);

            hosts_text(p, &got);
            if (strcmp(str_cstr(&got), extract_cases[i].hosts) != 0)
                fail_msg("%s (chunk %zd): got \"%s\", want \"%s\"", extract_cases[i].name, chunks[k],
                         str_cstr(&got), extract_cases[i].hosts);
            uri_parser_free(p);
        }
    }
    str_free(&got);
}

/*
 * Found by fuzzing: a CRLF split between two feeds counted the CR as text,
 * so the text counted (and what a text limit keeps) depended on where the
 * milter cut the body; a line ending in CR CR LF must stay one that is not
 * a boundary. Every two-piece split must give the one-piece result.
 */
static void test_crlf_split(void **state)
{
    static const struct { const char *ct, *cte, *body; } cases[] = {
        { "text/plain", NULL, "see http://ev=\r\nil.test/ ok\r\n\r\nhttp://b.test/\r\nend\r" },
        { "text/plain", "quoted-printable", "see http://ev=\r\nil.test/ ok\r\n\r\nhttp://b.test/\r\nend\r" },
        { "multipart/mixed; boundary=b", NULL,
          "--b\r\n\r\nhttp://one.test/\r\n--b\r\r\nhttp://two.test/\r\n--b--\r\n" },
    };
    struct uri_stats whole, split;
    struct uri_parser *p;

    (void) state;
    for (size_t i = 0; i < NELEM(cases); i++) {
        const ssize_t len = (ssize_t) strlen(cases[i].body);

        p = uri_parser_new(NULL, 0);
        uri_parser_set_type(p, cases[i].ct, cases[i].cte);
        uri_parser_feed(p, cases[i].body, len);
        uri_parser_end(p);
        uri_parser_stats(p, &whole);
        assert_int_equal(uri_parser_count(p), i == 0 ? 1 : 2);
        uri_parser_free(p);
        for (ssize_t cut = 0; cut <= len; cut++) {
            p = uri_parser_new(NULL, 0);
            uri_parser_set_type(p, cases[i].ct, cases[i].cte);
            uri_parser_feed(p, cases[i].body, cut);
            uri_parser_feed(p, cases[i].body + cut, len - cut);
            uri_parser_end(p);
            uri_parser_stats(p, &split);
            if (split.text_bytes != whole.text_bytes || split.parts != whole.parts
                || uri_parser_count(p) != (i == 0 ? 1 : 2))
                fail_msg("case %zu cut at %zd: %zd text bytes in %d parts, %zd in %d in one piece", i, cut,
                         split.text_bytes, split.parts, whole.text_bytes, whole.parts);
            uri_parser_free(p);
        }
    }
}

/* Host counts and kinds. */
static void test_host_records(void **state)
{
    static const struct extract_case c = {
        "records", 0, NULL, NULL, "http://a.test/ http://192.0.2.1/ http://a.test/x http://[2001:db8::2]/", ""
    };
    struct uri_parser *p = run_case(&c, 0, NULL);
    struct uri_stats st;

    (void) state;
    assert_int_equal(uri_parser_count(p), 3);
    assert_int_equal(uri_parser_host(p, 0)->kind, URI_HOST_DOMAIN);
    assert_int_equal(uri_parser_host(p, 0)->count, 2);
    assert_int_equal(uri_parser_host(p, 1)->kind, URI_HOST_IPV4);
    assert_int_equal(uri_parser_host(p, 2)->kind, URI_HOST_IPV6);
    assert_null(uri_parser_host(p, 3));
    assert_null(uri_parser_host(p, -1));
    uri_parser_stats(p, &st);
    assert_int_equal(st.urls, 4);
    assert_int_equal(st.hosts, 3);
    assert_int_equal(st.truncated, 0);
    uri_parser_free(p);
}

/* A whole realistic message from a file, through uri_parser_set_headers. */
static void test_message_file(void **state)
{
    const char *top = getenv("top_srcdir");
    str path = STR_INIT, data = STR_INIT, got = STR_INIT;
    char buf[4096];
    size_t n;
    FILE *f;
    struct uri_parser *p;
    struct msg_headers hs;
    const char *body;
    struct uri_stats st;

    (void) state;
    str_addf(&path, "%s/tests/dnsbl/multipart.eml", top ? top : ".");
    f = fopen(path.data, "rb");
    assert_non_null(f);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        str_add(&data, buf, (ssize_t) n);
    fclose(f);

    /* As the milter sees it: header fields apart, then the body. */
    msg_headers_init(&hs);
    msg_headers_add(&hs, "Content-Type", " multipart/mixed;\r\n boundary=\"outer\"",
                    (ssize_t) strlen(" multipart/mixed;\r\n boundary=\"outer\""));
    body = strstr(data.data, "\r\n\r\n") + 4;
    p = uri_parser_new(NULL, 0);
    uri_parser_set_headers(p, &hs);
    uri_parser_feed(p, body, data.data + data.len - body);
    uri_parser_end(p);
    hosts_text(p, &got);
    assert_string_equal(got.data, "b64.test xn--bcher-kva.example qp-html.test ent.test forwarded.test");
    uri_parser_stats(p, &st);
    assert_int_equal(st.parts, 3);
    uri_parser_free(p);

    /* The whole file as one stream gives the same. */
    p = uri_parser_new(NULL, URI_WHOLE_MESSAGE);
    for (ssize_t i = 0; i < data.len; i += 5)
        uri_parser_feed(p, data.data + i, data.len - i < 5 ? data.len - i : 5);
    uri_parser_end(p);
    hosts_text(p, &got);
    assert_string_equal(got.data, "b64.test xn--bcher-kva.example qp-html.test ent.test forwarded.test");
    uri_parser_free(p);
    msg_headers_free(&hs);
    str_free(&path);
    str_free(&data);
    str_free(&got);
}

/* ------------------------------------------------------------ limits */

/* Thousands of distinct links: max_hosts kept, the scan stops, in bounded time. */
static void test_limit_hosts(void **state)
{
    str body = STR_INIT;
    struct uri_parser *p;
    struct uri_stats st;
    int64_t t0 = clock_now_ms();

    (void) state;
    for (int i = 0; i < 5000; i++)
        str_addf(&body, "<a href=\"http://host%d.test/\">link %d</a>\n", i, i);
    p = uri_parser_new(NULL, 0);
    uri_parser_set_type(p, "text/html", NULL);
    uri_parser_feed(p, body.data, body.len);
    uri_parser_end(p);
    uri_parser_stats(p, &st);
    assert_int_equal(uri_parser_count(p), URI_DEFAULT_MAX_HOSTS);
    assert_string_equal(uri_parser_host(p, 0)->name, "host0.test");
    assert_string_equal(uri_parser_host(p, 99)->name, "host99.test");
    assert_int_equal(st.dropped_hosts, 1);
    assert_true(st.truncated);
    assert_true(clock_now_ms() - t0 < 2000);
    uri_parser_free(p);
    str_free(&body);
}

/* Many links to known hosts: max_urls bounds the work. */
static void test_limit_urls(void **state)
{
    struct uri_limits lim = { .max_urls = 1000 };
    str body = STR_INIT;
    struct uri_parser *p;
    struct uri_stats st;

    (void) state;
    for (int i = 0; i < 3000; i++)
        str_addf(&body, "http://same.test/%d http://other.test/\n", i);
    str_adds(&body, "http://late.test/\n");
    p = uri_parser_new(&lim, 0);
    uri_parser_feed(p, body.data, body.len);
    uri_parser_end(p);
    uri_parser_stats(p, &st);
    assert_int_equal(st.urls, 1000);
    assert_true(st.truncated);
    assert_int_equal(uri_parser_count(p), 2);
    assert_int_equal(uri_parser_host(p, 0)->count, 500);
    uri_parser_free(p);
    str_free(&body);
}

/* Text and body byte limits; a configured host limit. */
static void test_limit_bytes(void **state)
{
    struct uri_limits text_lim = { .max_text_bytes = 1000 };
    struct uri_limits body_lim = { .max_body_bytes = 1000 };
    struct uri_limits host_lim = { .max_hosts = 2 };
    str body = STR_INIT, got = STR_INIT;
    struct uri_parser *p;
    struct uri_stats st;

    (void) state;
    str_adds(&body, "http://early.test/ ");
    while (body.len < 985)
        str_addc(&body, 'x');
    str_adds(&body, " http://edge.test/ ");
    while (body.len < 3000)
        str_addc(&body, ' ');
    str_adds(&body, "http://late.test/\n");

    p = uri_parser_new(&text_lim, 0);
    uri_parser_feed(p, body.data, body.len);
    uri_parser_end(p);
    uri_parser_stats(p, &st);
    hosts_text(p, &got);
    /* The limit cuts "http://edge.te": that token is dropped, not read as edge.te. */
    assert_string_equal(got.data, "early.test");
    assert_int_equal(st.text_bytes, 1000);
    assert_true(st.truncated);
    uri_parser_free(p);

    /* The same bound on raw input, fed in pieces. */
    p = uri_parser_new(&body_lim, 0);
    for (ssize_t i = 0; i < body.len; i += 100)
        uri_parser_feed(p, body.data + i, body.len - i < 100 ? body.len - i : 100);
    uri_parser_end(p);
    uri_parser_stats(p, &st);
    hosts_text(p, &got);
    assert_string_equal(got.data, "early.test");
    assert_int_equal(st.body_bytes, 1000);
    assert_true(st.truncated);
    uri_parser_free(p);

    p = uri_parser_new(&host_lim, 0);
    uri_parser_feed(p, "http://a.test http://b.test http://a.test http://c.test http://d.test", 69);
    uri_parser_end(p);
    uri_parser_stats(p, &st);
    assert_int_equal(uri_parser_count(p), 2);
    assert_int_equal(st.dropped_hosts, 1);
    uri_parser_free(p);
    str_free(&body);
    str_free(&got);
}

/* Nesting deeper than max_depth is not read. */
static void test_limit_depth(void **state)
{
    str body = STR_INIT;
    struct uri_parser *p;
    struct uri_stats st;

    (void) state;
    for (int d = 1; d < 20; d++) {
        str_addf(&body, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", d, d + 1);
        if (d == 3)
            str_adds(&body, "--b4\r\nContent-Type: text/plain\r\n\r\nhttp://shallow.test/\r\n");
    }
    str_adds(&body, "--b20\r\nContent-Type: text/plain\r\n\r\nhttp://deep.test/\r\n");
    p = uri_parser_new(NULL, 0);
    uri_parser_set_type(p, "multipart/mixed; boundary=b1", NULL);
    uri_parser_feed(p, body.data, body.len);
    uri_parser_end(p);
    uri_parser_stats(p, &st);
    assert_int_equal(uri_parser_count(p), 1);
    assert_string_equal(uri_parser_host(p, 0)->name, "shallow.test");
    assert_true(st.truncated);
    uri_parser_free(p);
    str_free(&body);
}

/* Long lines and long tokens: URLs anywhere in them are still found. */
static void test_long_lines(void **state)
{
    str body = STR_INIT, got = STR_INIT;
    struct uri_parser *p;

    (void) state;
    /* 100 KB of words on one line, a URL at the end; then a 20 KB token with a URL at its end. */
    while (body.len < 100000)
        str_adds(&body, "word ");
    str_adds(&body, "http://endofline.test/ ");
    while (body.len < 120000 + 3)
        str_adds(&body, "junk");
    str_adds(&body, "=http://endoftoken.test/path");
    /* A URL in the tail kept across the token window's cut (its host crosses byte 8192). */
    str_adds(&body, "\n");
    {
        ssize_t start = body.len;

        while (body.len - start < 8179)
            str_addc(&body, 'z');
        str_adds(&body, "=http://acrossthecut.test/");
        for (int i = 0; i < 100; i++)
            str_addc(&body, 'z');
        str_adds(&body, "\n");
    }
    p = uri_parser_new(NULL, 0);
    for (ssize_t i = 0; i < body.len; i += 333)
        uri_parser_feed(p, body.data + i, body.len - i < 333 ? body.len - i : 333);
    uri_parser_end(p);
    hosts_text(p, &got);
    assert_string_equal(got.data, "endofline.test endoftoken.test acrossthecut.test");
    uri_parser_free(p);

    /* Multipart: a long line starting with "--" is body text; a long header line is cut. */
    str_reset(&body);
    str_adds(&body, "--b\r\nContent-Type: text/plain\r\nX-Long: ");
    for (int i = 0; i < 30000; i++)
        str_addc(&body, 'h');
    str_adds(&body, "\r\n\r\n--");
    for (int i = 0; i < 3000; i++)
        str_addc(&body, '-');
    str_adds(&body, "http://dashes.test/\r\n--b--\r\n");
    p = uri_parser_new(NULL, 0);
    uri_parser_set_type(p, "multipart/mixed; boundary=b", NULL);
    for (ssize_t i = 0; i < body.len; i += 1000)
        uri_parser_feed(p, body.data + i, body.len - i < 1000 ? body.len - i : 1000);
    uri_parser_end(p);
    hosts_text(p, &got);
    assert_string_equal(got.data, "dashes.test");
    uri_parser_free(p);
    str_free(&body);
    str_free(&got);
}

/* Feeding after the end, or nothing at all, is harmless. */
static void test_edges(void **state)
{
    struct uri_parser *p = uri_parser_new(NULL, 0);

    (void) state;
    uri_parser_end(p);
    uri_parser_feed(p, "http://after.test/", 18);
    uri_parser_end(p);
    assert_int_equal(uri_parser_count(p), 0);
    uri_parser_free(p);
    uri_parser_free(NULL);

    p = uri_parser_new(NULL, URI_WHOLE_MESSAGE);
    uri_parser_feed(p, "Subject: only a header", 22);
    uri_parser_end(p);
    assert_int_equal(uri_parser_count(p), 0);
    uri_parser_free(p);

    /* NUL bytes in the body separate tokens. */
    p = uri_parser_new(NULL, 0);
    uri_parser_feed(p, "http://nul\0.test/ http://ok.test/", 33);
    uri_parser_end(p);
    assert_int_equal(uri_parser_count(p), 1);
    assert_string_equal(uri_parser_host(p, 0)->name, "ok.test");
    uri_parser_free(p);
}

/* ------------------------------------------------------------ public suffixes */

struct psl_case {
    const char *host;
    const char *reg;             /* NULL: the host is a public suffix */
};

static const struct psl_case builtin_cases[] = {
    { "example.com", "example.com" },
    { "www.example.com", "example.com" },
    { "a.b.c.example.com", "example.com" },
    { "example.co.uk", "example.co.uk" },
    { "mail.example.co.uk", "example.co.uk" },
    { "co.uk", NULL },
    { "com", NULL },
    { "evil.test", "evil.test" },
};

static const struct psl_case file_cases[] = {
    { "www.example.com", "example.com" },
    { "x.y.example.co.uk", "example.co.uk" },
    { "a.b.foo.ck", "b.foo.ck" },       /* *.ck: foo.ck is a suffix */
    { "foo.ck", NULL },
    { "www.ck", "www.ck" },             /* !www.ck */
    { "a.www.ck", "www.ck" },
    { "a.b.kawasaki.jp", "a.b.kawasaki.jp" },
    { "x.city.kawasaki.jp", "city.kawasaki.jp" },
    { "evil.blogspot.com", "evil.blogspot.com" },
    { "blogspot.com", NULL },
    { "www.xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai" },   /* rule written in Unicode */
    { "xn--p1ai", NULL },
    { "unlisted.tld", "unlisted.tld" },  /* no rule: the default "*" */
};

static void check_psl(const struct uri_psl *psl, const struct psl_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *reg = uri_registered_domain(psl, cases[i].host);

        if ((reg == NULL) != (cases[i].reg == NULL) || (reg && strcmp(reg, cases[i].reg) != 0))
            fail_msg("%s: got %s, want %s", cases[i].host, reg ? reg : "NULL",
                     cases[i].reg ? cases[i].reg : "NULL");
    }
}

static void test_psl(void **state)
{
    const char *top = getenv("top_srcdir");
    str path = STR_INIT, err = STR_INIT;
    struct uri_psl *psl;

    (void) state;
    psl = uri_psl_load(NULL, &err);
    assert_non_null(psl);
    assert_true(uri_psl_count(psl) > 50);
    check_psl(psl, builtin_cases, NELEM(builtin_cases));
    uri_psl_free(psl);

    str_addf(&path, "%s/tests/dnsbl/psl.dat", top ? top : ".");
    psl = uri_psl_load(path.data, &err);
    assert_non_null(psl);
    assert_int_equal(uri_psl_count(psl), 11);
    check_psl(psl, file_cases, NELEM(file_cases));
    uri_psl_free(psl);

    assert_null(uri_psl_load("/nonexistent/psl.dat", &err));
    assert_non_null(strstr(err.data, "/nonexistent/psl.dat"));
    str_reset(&err);
    assert_null(uri_psl_load("/dev/null", &err));
    assert_non_null(strstr(err.data, "no public suffix rules"));
    str_free(&path);
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_normalize),
        cmocka_unit_test(test_host_limits),
        cmocka_unit_test(test_punycode),
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_crlf_split),
        cmocka_unit_test(test_host_records),
        cmocka_unit_test(test_message_file),
        cmocka_unit_test(test_limit_hosts),
        cmocka_unit_test(test_limit_urls),
        cmocka_unit_test(test_limit_bytes),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_psl),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
