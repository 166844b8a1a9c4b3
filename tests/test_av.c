/*
 * test_av.c - virus scanning with libclamav: detection through the mail
 * parser (base64 attachment, zip attachment, attached message, messages
 * that do not start with a known header), Debian's clamav-testfiles
 * matched by hash signatures, encrypted archives and every scan limit
 * reported as unscannable, the spill buffer, engine reload under four
 * scanning threads, blocking reload, a corrupt database, a missing database
 * and the watch thread; the text-only decision (av_text_*) on MIME
 * structures good, bad and at every limit.
 *
 * The signature database is built at test time by tests/av/make-db.sh; the
 * EICAR string is put together from two halves, never stored whole. Zip
 * files (plain and encrypted) are built here byte by byte.
 */
#include "config.h"

#include <clamav.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "av.h"
#include "log.h"
#include "mem.h"
#include "str.h"
#include "util.h"

#define TESTFILES "/usr/share/clamav-testfiles"
#define NAME_EICAR "Rampart.Test.EICAR.UNOFFICIAL"
#define NAME_CLAMEXE "Rampart.Test.ClamExe"
#define NAME_MARKER "Rampart.Test.Marker.UNOFFICIAL"
#define MARKER_TEXT "rampart reload marker 7f3a9c1e"

static char root[256];          /* per-run temporary directory */
static char base_db[300];       /* the database make-db.sh built */
static int have_testfiles;
static char eicar_buf[80];
static size_t eicar_len;

/*
 * lseek64() as libclamav calls it from this program (the executable's
 * definition comes first): it counts seeks on a descriptor that is not
 * open. libclamav 1.4.6 seeks the handle of a handle map as if it were a
 * descriptor; av.c must give it a handle that no descriptor is (-1), not
 * a pointer whose low bits could name one of ours.
 */
static int lseek_not_open, lseek_minus_one;

off64_t lseek64(int fd, off64_t offset, int whence)
{
    if (fd == -1)
        __atomic_add_fetch(&lseek_minus_one, 1, __ATOMIC_RELAXED);
    else if (fcntl(fd, F_GETFD) == -1)
        __atomic_add_fetch(&lseek_not_open, 1, __ATOMIC_RELAXED);
    return (off64_t) syscall(SYS_lseek, fd, offset, whence);
}

/* No seek on a descriptor that is not open, and (libclamav 1.4.6 seeks a handle map's
   handle on every scan) the handle maps were used: a later libclamav that no longer
   does makes this say so. */
static void expect_handle_seeks_safe(int before)
{
    assert_int_equal(lseek_not_open, 0);
    assert_true(lseek_minus_one > before);
}

/* ---------------------------------------------------------------- helpers */

/* The EICAR test string, from two halves. */
static void eicar_init(void)
{
    static const char h1[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$";
    static const char h2[] = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    memcpy(eicar_buf, h1, sizeof(h1) - 1);
    memcpy(eicar_buf + sizeof(h1) - 1, h2, sizeof(h2) - 1);
    eicar_len = sizeof(h1) - 1 + sizeof(h2) - 1;
}

static void path_in(char *out, size_t size, const char *name)
{
    int n = snprintf(out, size, "%s/%s", root, name);

    assert_true(n > 0 && (size_t) n < size);
}

static void write_file(const char *path, const void *data, size_t len)
{
    char tmp[512];
    int fd;

    /* Write beside and rename, so a directory watcher never sees half a file. */
    assert_true(snprintf(tmp, sizeof(tmp), "%s.part", path) < (int) sizeof(tmp));
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    close(fd);
    assert_int_equal(rename(tmp, path), 0);
}

static void read_file(const char *path, str *out)
{
    char buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    str_reset(out);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        str_add(out, buf, n);
    close(fd);
}

/* Copy the base database (or one of its files) into dir. */
static void copy_db(const char *dir, const char *only)
{
    static const char *const files[] = { "rampart-test.ndb", "rampart-test.hdb", "rampart-test.hsb" };
    char from[600], to[600];
    str data = STR_INIT;
    size_t i;

    mkdir(dir, 0755);
    for (i = 0; i < NELEM(files); i++) {
        if (only != NULL && strcmp(only, files[i]) != 0)
            continue;
        snprintf(from, sizeof(from), "%s/%s", base_db, files[i]);
        if (access(from, R_OK) != 0)
            continue;
        snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
        read_file(from, &data);
        write_file(to, data.data, (size_t) data.len);
    }
    str_free(&data);
}

/* A body signature for text, in the .ndb format. */
static void write_ndb(const char *path, const char *name, const char *text)
{
    str line = STR_INIT;
    size_t i;

    str_addf(&line, "%s:0:*:", name);
    for (i = 0; text[i] != '\0'; i++)
        str_addf(&line, "%02x", (unsigned char) text[i]);
    str_addc(&line, '\n');
    write_file(path, line.data, (size_t) line.len);
    str_free(&line);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Deterministic filler bytes. */
static void fill_random(unsigned char *p, size_t len, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    size_t i;

    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char) x;
    }
}

static void base64_add(str *out, const void *data, size_t len, const char *eol)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t i;
    int col = 0;

    for (i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16;
        size_t rest = len - i;

        if (rest > 1)
            v |= (uint32_t) p[i + 1] << 8;
        if (rest > 2)
            v |= p[i + 2];
        str_addc(out, tab[(v >> 18) & 63]);
        str_addc(out, tab[(v >> 12) & 63]);
        str_addc(out, rest > 1 ? tab[(v >> 6) & 63] : '=');
        str_addc(out, rest > 2 ? tab[v & 63] : '=');
        col += 4;
        if (col >= 76) {
            str_adds(out, eol);
            col = 0;
        }
    }
    if (col > 0)
        str_adds(out, eol);
}

struct part {
    const char *type;           /* Content-Type value */
    const char *filename;       /* NULL: inline */
    const void *data;
    size_t len;
    int raw;                    /* 1: no transfer encoding (text, message/rfc822) */
};

/* A multipart/mixed message; first = a header line put before the others. */
static void mail_build(str *m, const char *first, const struct part *parts, int n, const char *eol)
{
    static int boundary_seq;
    int b = __atomic_add_fetch(&boundary_seq, 1, __ATOMIC_RELAXED);
    int i;

    str_reset(m);
    if (first != NULL)
        str_addf(m, "%s%s", first, eol);
    str_addf(m, "From: <a@example.org>%sTo: <b@example.net>%sSubject: test%s", eol, eol, eol);
    str_addf(m, "Message-ID: <%d@example.org>%sMIME-Version: 1.0%s", b, eol, eol);
    str_addf(m, "Content-Type: multipart/mixed; boundary=\"=_b%d\"%s%s", b, eol, eol);
    for (i = 0; i < n; i++) {
        const struct part *p = &parts[i];

        str_addf(m, "--=_b%d%sContent-Type: %s%s", b, eol, p->type, eol);
        if (!p->raw)
            str_addf(m, "Content-Transfer-Encoding: base64%s", eol);
        if (p->filename != NULL)
            str_addf(m, "Content-Disposition: attachment; filename=\"%s\"%s", p->filename, eol);
        str_adds(m, eol);
        if (p->raw) {
            str_add(m, p->data, (ssize_t) p->len);
            str_adds(m, eol);
        } else {
            base64_add(m, p->data, p->len, eol);
        }
    }
    str_addf(m, "--=_b%d--%s", b, eol);
}

/* A message with a text part and one base64 attachment. */
static void mail_with(str *m, const char *first, const char *type, const char *filename,
                      const void *data, size_t len)
{
    struct part parts[2] = {
        { "text/plain; charset=us-ascii", NULL, "Hello.", 6, 1 },
        { type, filename, data, len, 0 },
    };

    mail_build(m, first, parts, 2, "\r\n");
}

/* ---------------------------------------------------------------- zip files */

static uint32_t crc_table[256];

static void crc_init(void)
{
    uint32_t c;
    int i, k;

    for (i = 0; i < 256; i++) {
        c = (uint32_t) i;
        for (k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc_byte(uint32_t crc, unsigned char b)
{
    return crc_table[(crc ^ b) & 0xff] ^ (crc >> 8);
}

static uint32_t crc32_of(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t c = 0xffffffffU;
    size_t i;

    for (i = 0; i < len; i++)
        c = crc_byte(c, p[i]);
    return c ^ 0xffffffffU;
}

static void le16(str *s, unsigned v)
{
    str_addc(s, (int) (v & 0xff));
    str_addc(s, (int) ((v >> 8) & 0xff));
}

static void le32(str *s, uint32_t v)
{
    le16(s, v & 0xffff);
    le16(s, v >> 16);
}

/* Traditional PKWARE encryption (APPNOTE 6.1). */
struct zcrypt {
    uint32_t k0, k1, k2;
};

static void zc_update(struct zcrypt *z, unsigned char p)
{
    z->k0 = crc_byte(z->k0, p);
    z->k1 = (z->k1 + (z->k0 & 0xff)) * 134775813U + 1;
    z->k2 = crc_byte(z->k2, (unsigned char) (z->k1 >> 24));
}

static unsigned char zc_encrypt(struct zcrypt *z, unsigned char p)
{
    unsigned t = (z->k2 | 2) & 0xffff;
    unsigned char c = (unsigned char) (p ^ ((t * (t ^ 1)) >> 8));

    zc_update(z, p);
    return c;
}

/* A zip with one stored member, encrypted with password if set. */
static void zip_build(str *z, const char *name, const void *data, size_t len, const char *password)
{
    uint32_t crc = crc32_of(data, len);
    unsigned flags = password != NULL ? 1 : 0;
    str body = STR_INIT;
    size_t nlen = strlen(name), i;
    uint32_t cd_off, cd_size;
    ssize_t cd_start;

    if (password != NULL) {
        struct zcrypt zc = { 0x12345678U, 0x23456789U, 0x34567890U };
        unsigned char head[12];

        for (i = 0; password[i] != '\0'; i++)
            zc_update(&zc, (unsigned char) password[i]);
        fill_random(head, sizeof(head), 77);
        head[11] = (unsigned char) (crc >> 24);
        for (i = 0; i < sizeof(head); i++)
            str_addc(&body, zc_encrypt(&zc, head[i]));
        for (i = 0; i < len; i++)
            str_addc(&body, zc_encrypt(&zc, ((const unsigned char *) data)[i]));
    } else {
        str_add(&body, data, (ssize_t) len);
    }

    str_reset(z);
    le32(z, 0x04034b50U);
    le16(z, 20);
    le16(z, flags);
    le16(z, 0);                 /* stored */
    le16(z, 0);
    le16(z, 0x21);
    le32(z, crc);
    le32(z, (uint32_t) body.len);
    le32(z, (uint32_t) len);
    le16(z, (unsigned) nlen);
    le16(z, 0);
    str_add(z, name, (ssize_t) nlen);
    str_add(z, body.data, body.len);

    cd_start = z->len;
    le32(z, 0x02014b50U);
    le16(z, 20);
    le16(z, 20);
    le16(z, flags);
    le16(z, 0);
    le16(z, 0);
    le16(z, 0x21);
    le32(z, crc);
    le32(z, (uint32_t) body.len);
    le32(z, (uint32_t) len);
    le16(z, (unsigned) nlen);
    le16(z, 0);
    le16(z, 0);
    le16(z, 0);
    le16(z, 0);
    le32(z, 0);
    le32(z, 0);                 /* local header at offset 0 */
    str_add(z, name, (ssize_t) nlen);
    cd_off = (uint32_t) cd_start;
    cd_size = (uint32_t) (z->len - cd_start);

    le32(z, 0x06054b50U);
    le16(z, 0);
    le16(z, 0);
    le16(z, 1);
    le16(z, 1);
    le32(z, cd_size);
    le32(z, cd_off);
    le16(z, 0);
    str_free(&body);
}

/* ---------------------------------------------------------------- fixtures */

static int group_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    const char *srcdir = getenv("top_srcdir");
    char cmd[1024];

    (void) state;
    eicar_init();
    crc_init();
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if (srcdir == NULL || srcdir[0] == '\0')
        srcdir = ".";
    snprintf(root, sizeof(root), "%s/rampart-test-av-XXXXXX", tmp);
    if (mkdtemp(root) == NULL)
        return -1;
    snprintf(base_db, sizeof(base_db), "%s/base", root);
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/av/make-db.sh' '%s' '%s'", srcdir, base_db, TESTFILES);
    if (system(cmd) != 0)
        return -1;
    have_testfiles = access(TESTFILES "/clam.exe", R_OK) == 0;
    log_set_level(LOG_LVL_WARNING);
    return 0;
}

static int group_teardown(void **state)
{
    (void) state;
    rm_tree(root);
    return 0;
}

static void test_options(struct av_options *o, const char *db)
{
    static char tmpdir[300];

    av_options_defaults(o);
    o->database_dir = db != NULL ? db : base_db;
    path_in(tmpdir, sizeof(tmpdir), "tmp");
    mkdir(tmpdir, 0700);
    o->temp_dir = tmpdir;
}

static int setup(void **state)
{
    struct av_options o;

    (void) state;
    test_options(&o, NULL);
    return av_init(&o);
}

static int teardown(void **state)
{
    (void) state;
    av_stop_watch();
    av_shutdown();
    log_set_hook(NULL, NULL);
    return 0;
}

/* Scan m and check the outcome; detail NULL = do not check. */
static void expect_scan_at(int line, const str *m, enum av_result want, const char *detail)
{
    struct av_report r;

    av_report_init(&r);
    av_scan_mem(m->data, m->len, &r);
    if (r.result != want)
        fail_msg("line %d: %s (%s), wanted %s", line, av_result_name(r.result),
                 str_cstr(&r.detail), av_result_name(want));
    if (detail != NULL && strcmp(str_cstr(&r.detail), detail) != 0)
        fail_msg("line %d: \"%s\", wanted \"%s\"", line, str_cstr(&r.detail), detail);
    av_report_free(&r);
}

#define expect_scan(m, want, detail) expect_scan_at(__LINE__, m, want, detail)

/* ---------------------------------------------------------------- detection */

static void test_eicar_base64_attachment(void **state)
{
    str m = STR_INIT;
    struct av_report r;

    (void) state;
    mail_with(&m, "Received: from mx.example.org by mx.example.net", "application/octet-stream",
              "eicar.com", eicar_buf, eicar_len);
    av_report_init(&r);
    assert_int_equal(av_scan_mem(m.data, m.len, &r), AV_INFECTED);
    assert_string_equal(str_cstr(&r.detail), NAME_EICAR);
    assert_int_equal(r.reason, AV_REASON_NONE);
    assert_true(r.generation >= 1);
    av_report_free(&r);
    str_free(&m);
}

static void test_eicar_in_zip(void **state)
{
    str m = STR_INIT, z = STR_INIT;

    (void) state;
    zip_build(&z, "eicar.com", eicar_buf, eicar_len, NULL);
    mail_with(&m, "Received: from x by y", "application/zip", "files.zip", z.data, (size_t) z.len);
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    str_free(&m);
    str_free(&z);
}

static void test_eicar_in_attached_message(void **state)
{
    str inner = STR_INIT, m = STR_INIT;
    struct part parts[2];

    (void) state;
    mail_with(&inner, NULL, "application/octet-stream", "eicar.com", eicar_buf, eicar_len);
    parts[0] = (struct part) { "text/plain", NULL, "See attached.", 13, 1 };
    parts[1] = (struct part) { "message/rfc822", NULL, inner.data, (size_t) inner.len, 1 };
    mail_build(&m, "Received: from x by y", parts, 2, "\r\n");
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    str_free(&inner);
    str_free(&m);
}

/* libclamav needs a known first header to parse mail; av adds one if needed.
   Also line ending variants. */
static void test_eicar_unusual_first_header(void **state)
{
    static const struct {
        const char *first;
        const char *eol;
    } cases[] = {
        { NULL, "\r\n" },
        { "X-Foo: bar", "\n" },
        { "Return-Path: <a@example.org>", "\r\n" },
        { "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s; b=", "\r\n" },
    };
    str m = STR_INIT, first = STR_INIT;
    size_t i;

    (void) state;
    for (i = 0; i < NELEM(cases); i++) {
        struct part parts[1] = { { "application/octet-stream", "e.com", eicar_buf, eicar_len, 0 } };
        char pad[3001];

        str_reset(&first);
        if (cases[i].first != NULL) {
            str_adds(&first, cases[i].first);
            /* A long field pushes From: past where libclamav looks for it. */
            if (strncmp(cases[i].first, "DKIM", 4) == 0) {
                memset(pad, 'A', sizeof(pad) - 1);
                pad[sizeof(pad) - 1] = '\0';
                str_adds(&first, pad);
            }
        }
        mail_build(&m, cases[i].first != NULL ? str_cstr(&first) : NULL, parts, 1, cases[i].eol);
        expect_scan_at((int) i, &m, AV_INFECTED, NAME_EICAR);
    }
    /* Only Content-Type, then MIME-Version far below: libclamav alone misses it. */
    str_reset(&m);
    str_adds(&m, "X-Foo: bar\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
                 "--BB\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n");
    base64_add(&m, eicar_buf, eicar_len, "\r\n");
    str_adds(&m, "--BB--\r\n");
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    /* Header folds as the milter hands them over ("\n" + WSP) inside CRLF lines. */
    str_reset(&m);
    str_adds(&m, "Received: from x\n\tby y\r\nFrom: a\r\nMIME-Version: 1.0\r\n"
                 "Content-Type: multipart/mixed;\n\tboundary=\"BB\"\r\n\r\n"
                 "--BB\r\nContent-Type: application/octet-stream;\n\tname=\"x.com\"\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n");
    base64_add(&m, eicar_buf, eicar_len, "\r\n");
    str_adds(&m, "--BB--\r\n");
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    str_free(&m);
    str_free(&first);
}

static void test_clean_mail_with_attachments(void **state)
{
    static unsigned char blob[200 * 1024];
    str m = STR_INIT, z = STR_INIT;
    struct part parts[4];
    struct av_report r;
    const char *html = "<html><body><p>Hello <a href=\"https://example.org/\">there</a></p></body></html>";

    (void) state;
    fill_random(blob, sizeof(blob), 12345);
    zip_build(&z, "notes.txt", "nothing to see here\n", 20, NULL);
    parts[0] = (struct part) { "text/plain", NULL, "Hello.", 6, 1 };
    parts[1] = (struct part) { "text/html", NULL, html, strlen(html), 1 };
    parts[2] = (struct part) { "application/octet-stream", "data.bin", blob, sizeof(blob), 0 };
    parts[3] = (struct part) { "application/zip", "notes.zip", z.data, (size_t) z.len, 0 };
    mail_build(&m, "Received: from x by y", parts, 4, "\r\n");
    av_report_init(&r);
    assert_int_equal(av_scan_mem(m.data, m.len, &r), AV_CLEAN);
    assert_int_equal(r.detail.len, 0);
    assert_true(r.scanned_bytes > 0);
    av_report_free(&r);
    str_free(&m);
    str_free(&z);
}

static void test_empty_message(void **state)
{
    struct av_report r;

    (void) state;
    av_report_init(&r);
    assert_int_equal(av_scan_mem(NULL, 0, &r), AV_CLEAN);
    assert_int_equal(av_scan_mem("", 0, &r), AV_CLEAN);
    assert_int_equal(av_scan_mem("\r\n", 2, &r), AV_CLEAN);
    av_report_free(&r);
}

/* Debian's test files, each as a mail attachment, by the hash signature. */
static void test_clamav_testfiles(void **state)
{
    static const char *const files[] = {
        "clam.exe", "clam.zip", "clam.7z", "clam.tar.gz", "clam.exe.bz2", "clam.cab",
        "clam.arj", "clam.ole.doc", "clam.pdf", "clam-upx.exe", "clam.impl.zip",
    };
    static const char *const mails[] = { "clam.mail", "clam.exe.mbox.base64", "clam.exe.mbox.uu" };
    str data = STR_INIT, m = STR_INIT;
    struct av_report r;
    char path[512];
    size_t i;
    int tested = 0;

    (void) state;
    if (!have_testfiles)
        skip();
    av_report_init(&r);
    for (i = 0; i < NELEM(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", TESTFILES, files[i]);
        if (access(path, R_OK) != 0)
            continue;
        read_file(path, &data);
        mail_with(&m, "Received: from x by y", "application/octet-stream", files[i], data.data,
                  (size_t) data.len);
        av_scan_mem(m.data, m.len, &r);
        if (r.result != AV_INFECTED || strncmp(str_cstr(&r.detail), NAME_CLAMEXE, strlen(NAME_CLAMEXE)) != 0)
            fail_msg("%s: %s %s", files[i], av_result_name(r.result), str_cstr(&r.detail));
        tested++;
    }
    for (i = 0; i < NELEM(mails); i++) {
        snprintf(path, sizeof(path), "%s/%s", TESTFILES, mails[i]);
        if (access(path, R_OK) != 0)
            continue;
        av_scan_file(path, &r);
        if (r.result != AV_INFECTED || strncmp(str_cstr(&r.detail), NAME_CLAMEXE, strlen(NAME_CLAMEXE)) != 0)
            fail_msg("%s: %s %s", mails[i], av_result_name(r.result), str_cstr(&r.detail));
        tested++;
    }
    assert_true(tested >= 5);
    av_report_free(&r);
    str_free(&data);
    str_free(&m);
}

/* A database with only the SHA-256 signature. */
static void test_sha256_signature(void **state)
{
    char dir[300];
    struct av_options o;
    str data = STR_INIT, m = STR_INIT;

    (void) state;
    if (!have_testfiles)
        skip();
    path_in(dir, sizeof(dir), "sha256");
    copy_db(dir, "rampart-test.hsb");
    av_shutdown();
    test_options(&o, dir);
    assert_int_equal(av_init(&o), 0);
    read_file(TESTFILES "/clam.exe", &data);
    mail_with(&m, "Received: from x by y", "application/octet-stream", "clam.exe", data.data,
              (size_t) data.len);
    expect_scan(&m, AV_INFECTED, NAME_CLAMEXE "256.UNOFFICIAL");
    str_free(&data);
    str_free(&m);
}

/* ---------------------------------------------------------------- unscannable */

static void test_encrypted_zip(void **state)
{
    str m = STR_INIT, z = STR_INIT, z2 = STR_INIT;
    struct av_report r;
    struct part parts[3];

    (void) state;
    zip_build(&z, "secret.txt", "just some text\n", 15, "password");
    mail_with(&m, "Received: from x by y", "application/zip", "secret.zip", z.data, (size_t) z.len);
    av_report_init(&r);
    assert_int_equal(av_scan_mem(m.data, m.len, &r), AV_UNSCANNABLE);
    assert_int_equal(r.reason, AV_REASON_ENCRYPTED);
    assert_string_equal(str_cstr(&r.detail), "Heuristics.Encrypted.Zip");

    /* An encrypted EICAR is no less unscannable. */
    zip_build(&z2, "eicar.com", eicar_buf, eicar_len, "password");
    mail_with(&m, "Received: from x by y", "application/zip", "e.zip", z2.data, (size_t) z2.len);
    assert_int_equal(av_scan_mem(m.data, m.len, &r), AV_UNSCANNABLE);

    /* A real signature elsewhere in the message wins over the alert, in either order. */
    parts[0] = (struct part) { "application/zip", "secret.zip", z.data, (size_t) z.len, 0 };
    parts[1] = (struct part) { "application/octet-stream", "e.com", eicar_buf, eicar_len, 0 };
    mail_build(&m, "Received: from x by y", parts, 2, "\r\n");
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    parts[2] = parts[0];
    mail_build(&m, "Received: from x by y", parts + 1, 2, "\r\n");
    expect_scan(&m, AV_INFECTED, NAME_EICAR);

    av_report_free(&r);
    str_free(&m);
    str_free(&z);
    str_free(&z2);
}

/* Every limit, set low, makes a clean message unscannable, never clean or infected. */
static void test_limits(void **state)
{
    enum msg_kind { BIG_ATTACHMENT, NESTED, MANY_PARTS, HUGE };
    static const struct {
        const char *name;
        enum msg_kind kind;
        int64_t max_scan_size, max_file_size;
        int max_recursion, max_files, max_scan_time_ms;
        enum av_result want;
        const char *detail;
    } cases[] = {
        { "defaults", BIG_ATTACHMENT, 0, 0, 0, 0, 0, AV_CLEAN, "" },
        { "scan size", BIG_ATTACHMENT, 64 * 1024, 0, 0, 0, 0, AV_UNSCANNABLE,
          "Heuristics.Limits.Exceeded.MaxScanSize" },
        { "file size", BIG_ATTACHMENT, 0, 100 * 1024, 0, 0, 0, AV_UNSCANNABLE,
          "Heuristics.Limits.Exceeded.MaxFileSize" },
        { "recursion", NESTED, 0, 0, 1, 0, 0, AV_UNSCANNABLE,
          "Heuristics.Limits.Exceeded.MaxRecursion" },
        { "files", MANY_PARTS, 0, 0, 0, 2, 0, AV_UNSCANNABLE,
          "Heuristics.Limits.Exceeded.MaxFiles" },
        { "scan time", HUGE, 0, 0, 0, 0, 1, AV_UNSCANNABLE,
          "Heuristics.Limits.Exceeded.MaxScanTime" },
    };
    unsigned char *blob = mem_alloc(4 * 1024 * 1024);
    str m = STR_INIT, inner = STR_INIT;
    struct av_options o;
    struct av_report r;
    size_t i;

    (void) state;
    fill_random(blob, 4 * 1024 * 1024, 99);
    av_report_init(&r);
    for (i = 0; i < NELEM(cases); i++) {
        struct part parts[5];

        test_options(&o, NULL);
        if (cases[i].max_scan_size)
            o.max_scan_size = cases[i].max_scan_size;
        if (cases[i].max_file_size)
            o.max_file_size = cases[i].max_file_size;
        if (cases[i].max_recursion)
            o.max_recursion = cases[i].max_recursion;
        if (cases[i].max_files)
            o.max_files = cases[i].max_files;
        if (cases[i].max_scan_time_ms)
            o.max_scan_time_ms = cases[i].max_scan_time_ms;
        o.disable_cache = 1;
        assert_int_equal(av_reload(&o), 0);

        switch (cases[i].kind) {
        case BIG_ATTACHMENT:
            mail_with(&m, "Received: from x by y", "application/octet-stream", "a.bin", blob, 200 * 1024);
            break;
        case NESTED:
            mail_with(&inner, NULL, "application/octet-stream", "a.bin", blob, 1000);
            parts[0] = (struct part) { "message/rfc822", NULL, inner.data, (size_t) inner.len, 1 };
            mail_build(&m, "Received: from x by y", parts, 1, "\r\n");
            break;
        case MANY_PARTS:
            for (int k = 0; k < 5; k++)
                parts[k] = (struct part) { "application/octet-stream", "a.bin", blob + k * 1000, 1000, 0 };
            mail_build(&m, "Received: from x by y", parts, 5, "\r\n");
            break;
        case HUGE:
            mail_with(&m, "Received: from x by y", "application/octet-stream", "a.bin", blob,
                      4 * 1024 * 1024);
            break;
        }
        av_scan_mem(m.data, m.len, &r);
        if (r.result != cases[i].want || strcmp(str_cstr(&r.detail), cases[i].detail) != 0)
            fail_msg("%s: %s %s", cases[i].name, av_result_name(r.result), str_cstr(&r.detail));
        if (r.result == AV_UNSCANNABLE)
            assert_int_equal(r.reason, AV_REASON_LIMIT);
    }
    av_report_free(&r);
    str_free(&m);
    str_free(&inner);
    mem_free(blob);
}

/* ---------------------------------------------------------------- files and the spill buffer */

static void test_scan_file_and_fd(void **state)
{
    char path[300];
    str m = STR_INIT;
    struct av_report r;
    int fd;

    (void) state;
    path_in(path, sizeof(path), "msg.eml");
    mail_with(&m, "X-Foo: bar", "application/octet-stream", "eicar.com", eicar_buf, eicar_len);
    write_file(path, m.data, m.len);
    av_report_init(&r);
    assert_int_equal(av_scan_file(path, &r), AV_INFECTED);
    assert_string_equal(str_cstr(&r.detail), NAME_EICAR);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(av_scan_fd(fd, &r), AV_INFECTED);
    close(fd);
    unlink(path);
    assert_int_equal(av_scan_file(path, &r), AV_ERROR);
    assert_non_null(strstr(str_cstr(&r.detail), "No such file"));
    av_report_free(&r);
    str_free(&m);
}

/* Feed m in chunks of step bytes. */
static void buffer_feed(struct av_buffer *b, const str *m, size_t step)
{
    ssize_t off;

    for (off = 0; off < m->len; off += (ssize_t) step) {
        ssize_t n = m->len - off < (ssize_t) step ? m->len - off : (ssize_t) step;

        assert_int_equal(av_buffer_add(b, m->data + off, n), 0);
    }
}

static void test_buffer_spill(void **state)
{
    static unsigned char blob[50000];
    char spill[300];
    str m = STR_INIT;
    struct av_options o;
    struct av_buffer b;
    struct av_report r;
    int seeks = lseek_minus_one;

    (void) state;
    path_in(spill, sizeof(spill), "spill");
    mkdir(spill, 0700);
    av_shutdown();
    test_options(&o, NULL);
    o.temp_dir = spill;
    o.spill_threshold = 10000;
    assert_int_equal(av_init(&o), 0);
    av_report_init(&r);
    fill_random(blob, sizeof(blob), 5);

    /* Small: stays in memory. */
    mail_with(&m, "Received: from x by y", "application/octet-stream", "e.com", eicar_buf, eicar_len);
    av_buffer_init(&b);
    buffer_feed(&b, &m, 100);
    assert_int_equal(b.fd, -1);
    assert_int_equal(av_scan_buffer(&b, &r), AV_INFECTED);
    assert_string_equal(str_cstr(&r.detail), NAME_EICAR);
    av_buffer_free(&b);

    /* Big: spilled to an unlinked file, EICAR in the last part. */
    {
        struct part parts[2] = {
            { "application/octet-stream", "a.bin", blob, sizeof(blob), 0 },
            { "application/octet-stream", "e.com", eicar_buf, eicar_len, 0 },
        };

        mail_build(&m, "X-Foo: bar", parts, 2, "\r\n");
    }
    av_buffer_init(&b);
    buffer_feed(&b, &m, 4096);
    assert_true(b.fd >= 0);
    assert_int_equal(b.len, m.len);
    assert_int_equal(b.mem.len, 0);
    assert_int_equal(count_entries(spill), 0);
    assert_int_equal(av_scan_buffer(&b, &r), AV_INFECTED);
    assert_string_equal(str_cstr(&r.detail), NAME_EICAR);
    av_buffer_free(&b);

    /* Clean and spilled. */
    mail_with(&m, "Received: from x by y", "application/octet-stream", "a.bin", blob, sizeof(blob));
    av_buffer_init(&b);
    buffer_feed(&b, &m, 65536);
    assert_true(b.fd >= 0);
    assert_int_equal(av_scan_buffer(&b, &r), AV_CLEAN);
    av_buffer_free(&b);
    /* The spilled messages were read through a handle map. */
    expect_handle_seeks_safe(seeks);

    av_report_free(&r);
    str_free(&m);
}

/* Past max_file_size the buffer keeps nothing more; clean is then not proven. */
static void test_buffer_size_limit(void **state)
{
    static unsigned char blob[20000];
    str m = STR_INIT;
    struct av_options o;
    struct av_buffer b;
    struct av_report r;
    struct part parts[2];

    (void) state;
    av_shutdown();
    test_options(&o, NULL);
    o.max_file_size = 8192;
    o.spill_threshold = 4096;
    assert_int_equal(av_init(&o), 0);
    av_report_init(&r);
    fill_random(blob, sizeof(blob), 6);

    mail_with(&m, "Received: from x by y", "application/octet-stream", "a.bin", blob, sizeof(blob));
    av_buffer_init(&b);
    buffer_feed(&b, &m, 1000);
    assert_true(b.len < 8192);
    assert_int_equal(b.total, m.len);
    assert_int_equal(av_scan_buffer(&b, &r), AV_UNSCANNABLE);
    assert_int_equal(r.reason, AV_REASON_LIMIT);
    assert_string_equal(str_cstr(&r.detail), "Heuristics.Limits.Exceeded.MaxFileSize");
    av_buffer_free(&b);
    /* The same message whole, straight to libclamav. */
    assert_int_equal(av_scan_mem(m.data, m.len, &r), AV_UNSCANNABLE);
    assert_string_equal(str_cstr(&r.detail), "Heuristics.Limits.Exceeded.MaxFileSize");

    /* EICAR in the part that was kept is still found. */
    parts[0] = (struct part) { "application/octet-stream", "e.com", eicar_buf, eicar_len, 0 };
    parts[1] = (struct part) { "application/octet-stream", "a.bin", blob, sizeof(blob), 0 };
    mail_build(&m, "Received: from x by y", parts, 2, "\r\n");
    av_buffer_init(&b);
    buffer_feed(&b, &m, 1000);
    assert_int_equal(av_scan_buffer(&b, &r), AV_INFECTED);
    av_buffer_free(&b);

    av_report_free(&r);
    str_free(&m);
}

static void test_buffer_spill_failure(void **state)
{
    char missing[300];
    static unsigned char blob[5000];
    struct av_options o;
    struct av_buffer b;
    struct av_report r;

    (void) state;
    path_in(missing, sizeof(missing), "no-such-dir");
    av_shutdown();
    test_options(&o, NULL);
    o.temp_dir = missing;
    o.spill_threshold = 1000;
    assert_int_equal(av_init(&o), 0);
    av_buffer_init(&b);
    assert_int_equal(av_buffer_add(&b, blob, 500), 0);
    assert_int_equal(av_buffer_add(&b, blob, 4000), -1);
    assert_int_equal(av_buffer_add(&b, blob, 10), -1);
    av_report_init(&r);
    assert_int_equal(av_scan_buffer(&b, &r), AV_ERROR);
    assert_non_null(strstr(str_cstr(&r.detail), "temporary file"));
    av_report_free(&r);
    av_buffer_free(&b);
}

/* ---------------------------------------------------------------- engine and reload */

static void test_engine_info(void **state)
{
    struct av_engine_info info;
    str d = STR_INIT, want = STR_INIT;
    unsigned int gen;

    (void) state;
    av_engine_info(&info);
    assert_int_equal(info.loaded, 1);
    assert_string_equal(info.version, cl_retver());
    assert_int_equal(info.signatures, have_testfiles ? 3 : 1);
    assert_int_equal(info.db_version, 0);
    assert_true(info.loaded_at > 0);
    assert_true(info.generation >= 1);
    gen = info.generation;
    av_engine_describe(&d);
    str_addf(&want, "ClamAV %s (%u signatures)", cl_retver(), info.signatures);
    assert_string_equal(str_cstr(&d), str_cstr(&want));

    assert_int_equal(av_reload(NULL), 0);
    av_engine_info(&info);
    assert_int_equal(info.generation, gen + 1);
    /* No watch thread: the request is served at once. */
    av_request_reload();
    av_engine_info(&info);
    assert_int_equal(info.generation, gen + 2);

    av_shutdown();
    av_engine_info(&info);
    assert_int_equal(info.loaded, 0);
    str_reset(&d);
    av_engine_describe(&d);
    assert_non_null(strstr(str_cstr(&d), "(no database)"));
    str_free(&d);
    str_free(&want);
}

static void test_names_and_options(void **state)
{
    struct av_options o;
    struct av_report r;

    (void) state;
    assert_string_equal(av_result_name(AV_CLEAN), "clean");
    assert_string_equal(av_result_name(AV_INFECTED), "infected");
    assert_string_equal(av_result_name(AV_UNSCANNABLE), "unscannable");
    assert_string_equal(av_result_name(AV_ERROR), "error");
    assert_string_equal(av_result_name(AV_UNAVAILABLE), "unavailable");
    assert_string_equal(av_reason_name(AV_REASON_NONE), "none");
    assert_string_equal(av_reason_name(AV_REASON_ENCRYPTED), "encrypted");
    assert_string_equal(av_reason_name(AV_REASON_LIMIT), "limit");

    /* Not initialised. */
    av_report_init(&r);
    assert_int_equal(av_scan_mem("x", 1, &r), AV_UNAVAILABLE);
    assert_string_equal(str_cstr(&r.detail), "scanner not initialised");
    assert_int_equal(av_reload(NULL), -1);
    assert_int_equal(av_check_changed(), 0);
    av_report_free(&r);

    test_options(&o, NULL);
    o.max_files = 0;
    assert_int_equal(av_init(&o), -1);
    test_options(&o, NULL);
    o.database_dir = NULL;
    assert_int_equal(av_init(&o), -1);
    test_options(&o, NULL);
    o.max_scan_time_ms = -1;
    assert_int_equal(av_init(&o), -1);
    test_options(&o, NULL);
    assert_int_equal(av_init(&o), 0);
    assert_int_equal(av_init(&o), -1);      /* twice */
    o.max_recursion = 0;
    assert_int_equal(av_reload(&o), -1);    /* bad options, engine kept */
    av_report_init(&r);
    assert_int_equal(av_scan_mem("x", 1, &r), AV_CLEAN);
    av_report_free(&r);
}

static const char *captured_needle;
static int captured;

static void capture_hook(int level, const char *line, void *arg)
{
    (void) level;
    (void) arg;
    if (captured_needle != NULL && strstr(line, captured_needle) != NULL)
        __atomic_store_n(&captured, 1, __ATOMIC_RELAXED);
}

/* A database that fails to load leaves the old engine in place. */
static void test_corrupt_database(void **state)
{
    char dir[300], bad[400];
    struct av_options o;
    struct av_engine_info info;
    str m = STR_INIT, marker = STR_INIT;
    unsigned int gen;

    (void) state;
    path_in(dir, sizeof(dir), "corrupt");
    copy_db(dir, NULL);
    av_shutdown();
    test_options(&o, dir);
    assert_int_equal(av_init(&o), 0);
    av_engine_info(&info);
    gen = info.generation;
    mail_with(&m, "Received: from x by y", "application/octet-stream", "e.com", eicar_buf, eicar_len);
    str_addf(&marker, "Received: from x by y\r\nSubject: m\r\n\r\n%s\r\n", MARKER_TEXT);

    snprintf(bad, sizeof(bad), "%s/bad.ndb", dir);
    write_file(bad, "this is not a signature\n", 24);
    assert_int_equal(av_check_changed(), 1);
    captured_needle = "cannot load the signature database";
    captured = 0;
    log_set_hook(capture_hook, NULL);
    assert_int_equal(av_reload(NULL), -1);
    log_set_hook(NULL, NULL);
    assert_int_equal(captured, 1);
    av_engine_info(&info);
    assert_int_equal(info.loaded, 1);
    assert_int_equal(info.generation, gen);
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    /* Not retried until the files change again. */
    assert_int_equal(av_check_changed(), 0);

    write_ndb(bad, "Rampart.Test.Marker", MARKER_TEXT);
    assert_int_equal(av_check_changed(), 1);
    assert_int_equal(av_reload(NULL), 0);
    av_engine_info(&info);
    assert_int_equal(info.generation, gen + 1);
    assert_int_equal(av_check_changed(), 0);
    expect_scan(&marker, AV_INFECTED, NAME_MARKER);
    expect_scan(&m, AV_INFECTED, NAME_EICAR);

    /* Blocking reload: a failed load leaves no engine, a good one brings it back. */
    o.concurrent_reload = 0;
    write_file(bad, "still not a signature\n", 22);
    assert_int_equal(av_reload(&o), -1);
    av_engine_info(&info);
    assert_int_equal(info.loaded, 0);
    expect_scan(&m, AV_UNAVAILABLE, "no signature database loaded");
    unlink(bad);
    assert_int_equal(av_reload(NULL), 0);
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    expect_scan(&marker, AV_CLEAN, "");
    str_free(&m);
    str_free(&marker);
}

/* No database at start: unavailable, then a reload finds one. */
static void test_missing_database(void **state)
{
    char dir[300];
    struct av_options o;
    struct av_engine_info info;
    str m = STR_INIT;

    (void) state;
    path_in(dir, sizeof(dir), "missing");
    av_shutdown();
    test_options(&o, dir);
    assert_int_equal(av_init(&o), 0);
    av_engine_info(&info);
    assert_int_equal(info.loaded, 0);
    mail_with(&m, "Received: from x by y", "application/octet-stream", "e.com", eicar_buf, eicar_len);
    expect_scan(&m, AV_UNAVAILABLE, "no signature database loaded");
    assert_int_equal(av_check_changed(), 0);
    assert_int_equal(av_reload(NULL), -1);

    /* An empty directory is no better. */
    mkdir(dir, 0755);
    assert_int_equal(av_check_changed(), 0);
    assert_int_equal(av_reload(NULL), -1);
    expect_scan(&m, AV_UNAVAILABLE, "no signature database loaded");

    copy_db(dir, NULL);
    assert_int_equal(av_check_changed(), 1);
    assert_int_equal(av_reload(NULL), 0);
    av_engine_info(&info);
    assert_int_equal(info.loaded, 1);
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    str_free(&m);
}

static int wait_generation(unsigned int gen, int timeout_ms)
{
    struct av_engine_info info;
    int64_t end = clock_now_ms() + timeout_ms;

    for (;;) {
        av_engine_info(&info);
        if (info.loaded && info.generation >= gen)
            return 1;
        if (clock_now_ms() > end)
            return 0;
        usleep(10000);
    }
}

/* The watch thread picks up a database that appears, a change, and a request. */
static void test_watch_thread(void **state)
{
    char dir[300], extra[400];
    struct av_options o;
    struct av_engine_info info;
    str m = STR_INIT, marker = STR_INIT;

    (void) state;
    path_in(dir, sizeof(dir), "watched");
    av_shutdown();
    test_options(&o, dir);
    assert_int_equal(av_init(&o), 0);
    assert_int_equal(av_start_watch(20), 0);
    mail_with(&m, "Received: from x by y", "application/octet-stream", "e.com", eicar_buf, eicar_len);
    str_addf(&marker, "Received: from x by y\r\nSubject: m\r\n\r\n%s\r\n", MARKER_TEXT);
    expect_scan(&m, AV_UNAVAILABLE, NULL);

    copy_db(dir, NULL);
    assert_true(wait_generation(1, 10000));
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    av_engine_info(&info);

    snprintf(extra, sizeof(extra), "%s/marker.ndb", dir);
    write_ndb(extra, "Rampart.Test.Marker", MARKER_TEXT);
    assert_true(wait_generation(info.generation + 1, 10000));
    expect_scan(&marker, AV_INFECTED, NAME_MARKER);

    av_engine_info(&info);
    av_request_reload();
    assert_true(wait_generation(info.generation + 1, 10000));

    /* No periodic check, requests still served. */
    assert_int_equal(av_start_watch(0), 0);
    av_engine_info(&info);
    av_request_reload();
    assert_true(wait_generation(info.generation + 1, 10000));
    av_stop_watch();
    av_stop_watch();
    str_free(&m);
    str_free(&marker);
}

struct scanner {
    pthread_t tid;
    const str *eicar_mail;
    const str *marker_mail;
    int blocking;               /* unavailable allowed while reloading */
    int scans, marker_hits, unavailable, failures;
    unsigned int first_marker_gen;
    char failure[200];
};

static int scanners_stop;
static unsigned int marker_gen;   /* generation that brought the marker; 0 = not yet */

static void *scanner_main(void *arg)
{
    struct scanner *s = arg;
    struct av_report r;

    av_report_init(&r);
    s->first_marker_gen = 0;
    while (!__atomic_load_n(&scanners_stop, __ATOMIC_ACQUIRE) && s->failures == 0) {
        enum av_result res = av_scan_mem(s->eicar_mail->data, s->eicar_mail->len, &r);
        unsigned int mg;

        s->scans++;
        if (res == AV_UNAVAILABLE && s->blocking) {
            s->unavailable++;
        } else if (res != AV_INFECTED || strcmp(str_cstr(&r.detail), NAME_EICAR) != 0) {
            s->failures++;
            snprintf(s->failure, sizeof(s->failure), "eicar: %s %s", av_result_name(res),
                     str_cstr(&r.detail));
        }
        res = av_scan_mem(s->marker_mail->data, s->marker_mail->len, &r);
        mg = __atomic_load_n(&marker_gen, __ATOMIC_ACQUIRE);
        if (res == AV_UNAVAILABLE && s->blocking) {
            s->unavailable++;
        } else if (res == AV_INFECTED && strcmp(str_cstr(&r.detail), NAME_MARKER) == 0) {
            s->marker_hits++;
            if (s->first_marker_gen == 0)
                s->first_marker_gen = r.generation;
        } else if (res == AV_CLEAN) {
            if (mg != 0 && r.generation >= mg) {
                s->failures++;
                snprintf(s->failure, sizeof(s->failure), "marker missed by load %u", r.generation);
            }
        } else {
            s->failures++;
            snprintf(s->failure, sizeof(s->failure), "marker: %s %s", av_result_name(res),
                     str_cstr(&r.detail));
        }
    }
    av_report_free(&r);
    return NULL;
}

/* Reloads while four threads scan: no failure, the new signature is used after the swap. */
static void run_reload_under_load(int concurrent)
{
    char dir[300], extra[400];
    struct av_options o;
    struct av_engine_info info;
    struct scanner sc[4];
    str m = STR_INIT, marker = STR_INIT;
    int i, total = 0, hits = 0;

    path_in(dir, sizeof(dir), concurrent ? "reload" : "reload-blocking");
    copy_db(dir, NULL);
    snprintf(extra, sizeof(extra), "%s/marker.ndb", dir);
    unlink(extra);
    av_shutdown();
    test_options(&o, dir);
    o.concurrent_reload = concurrent;
    assert_int_equal(av_init(&o), 0);
    mail_with(&m, "Received: from x by y", "application/octet-stream", "e.com", eicar_buf, eicar_len);
    str_addf(&marker, "Received: from x by y\r\nSubject: m\r\n\r\nHello, %s\r\n", MARKER_TEXT);

    __atomic_store_n(&scanners_stop, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&marker_gen, 0, __ATOMIC_RELEASE);
    memset(sc, 0, sizeof(sc));
    for (i = 0; i < 4; i++) {
        sc[i].eicar_mail = &m;
        sc[i].marker_mail = &marker;
        sc[i].blocking = !concurrent;
        assert_int_equal(pthread_create(&sc[i].tid, NULL, scanner_main, &sc[i]), 0);
    }
    for (i = 0; i < 3; i++) {
        usleep(20000);
        assert_int_equal(av_reload(NULL), 0);
    }
    write_ndb(extra, "Rampart.Test.Marker", MARKER_TEXT);
    assert_int_equal(av_reload(NULL), 0);
    av_engine_info(&info);
    __atomic_store_n(&marker_gen, info.generation, __ATOMIC_RELEASE);
    for (i = 0; i < 3; i++) {
        usleep(20000);
        assert_int_equal(av_reload(NULL), 0);
    }
    usleep(50000);
    __atomic_store_n(&scanners_stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 4; i++) {
        pthread_join(sc[i].tid, NULL);
        if (sc[i].failures != 0)
            fail_msg("thread %d: %s", i, sc[i].failure);
        /* The marker is never seen before the load that brought it. */
        if (sc[i].first_marker_gen != 0)
            assert_true(sc[i].first_marker_gen >= info.generation);
        total += sc[i].scans;
        hits += sc[i].marker_hits;
    }
    assert_true(total > 0);
    assert_true(hits > 0);
    if (concurrent)
        for (i = 0; i < 4; i++)
            assert_int_equal(sc[i].unavailable, 0);
    expect_scan(&marker, AV_INFECTED, NAME_MARKER);
    str_free(&m);
    str_free(&marker);
}

static void test_reload_under_load(void **state)
{
    (void) state;
    run_reload_under_load(1);
}

static void test_blocking_reload_under_load(void **state)
{
    (void) state;
    run_reload_under_load(0);
}

/* ---------------------------------------------------------------- text only */

struct text_case {
    const char *name;
    const char *msg;            /* LF line ends; run with LF and with CRLF */
    int text_only;
    const char *why;            /* part of the reason when not text only */
};

static const struct text_case text_cases[] = {
    { "no Content-Type", "Subject: hi\n\nHello.\n", 1, NULL },
    { "text/plain single part",
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nHi=20\n", 1, NULL },
    { "text/html single part, folded", "Content-Type:\n text/html;\n\tcharset=\"us-ascii\"\n\n<p>Hi</p>\n", 1, NULL },
    { "text/plain base64", "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8K\n", 1, NULL },
    { "empty body", "Subject: x\n\n", 1, NULL },
    { "multipart/alternative text and html",
      "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b1\"\n\n"
      "preamble\n--b1\nContent-Type: text/plain\n\nplain\n--b1\nContent-Type: text/html\n\n<b>html</b>\n"
      "--b1--\nepilogue\n", 1, NULL },
    { "nested multipart, all text",
      "Content-Type: multipart/mixed; boundary=outer\n\n--outer\n"
      "Content-Type: multipart/alternative; boundary=\"inner\"\n\n--inner\nContent-Type: text/plain\n\na\n"
      "--inner\nContent-Type: text/html\n\n<i>a</i>\n--inner--\n\n--outer\nContent-Type: text/plain\n"
      "Content-Disposition: inline\n\nsignature\n--outer--\n", 1, NULL },
    { "part without header fields", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b--\n", 1, NULL },
    { "transport padding", "Content-Type: multipart/mixed; boundary=b\n\n--b  \n\ntext\n--b-- \t\n", 1, NULL },
    { "quoted boundary with blanks and a quote",
      "Content-Type: multipart/mixed; boundary=\"a b\\\"c\"\n\n--a b\"c\n\nx\n--a b\"c--\n", 1, NULL },
    { "close delimiter without line end", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b--", 1, NULL },
    { "inner boundary starts with the outer",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=b2\n\n"
      "--b2\n\nx\n--b2--\n--b--\n", 1, NULL },
    { "a dash line in the text", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n-- \nsig\n--c\n--b--\n", 1, NULL },

    { "attachment disposition on a text part",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b\nContent-Type: text/plain\n"
      "Content-Disposition: attachment\n\nfile\n--b--\n", 0, "attachment" },
    { "attachment disposition on the message", "Content-Disposition: attachment\n\nfile\n", 0, "attachment" },
    { "unknown disposition", "Content-Disposition: x-whatever\n\nfile\n", 0, "attachment" },
    { "inline with a file name", "Content-Type: text/plain\nContent-Disposition: inline; filename=a.txt\n\nx\n",
      0, "file name" },
    { "text part with name=",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name=\"run.bat\"\n\nx\n--b--\n",
      0, "file name" },
    { "RFC 2231 file name", "Content-Type: text/plain\nContent-Disposition: inline; filename*=utf-8''a.txt\n\nx\n",
      0, "file name" },
    { "application/octet-stream part",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee\n--b\n"
      "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n--b--\n",
      0, "not text/plain or text/html" },
    { "nested multipart with a PDF",
      "Content-Type: multipart/mixed; boundary=outer\n\n--outer\n"
      "Content-Type: multipart/related; boundary=inner\n\n--inner\nContent-Type: text/html\n\nx\n"
      "--inner\nContent-Type: application/pdf\n\n%PDF\n--inner--\n--outer--\n", 0, "not text/plain" },
    { "text/calendar", "Content-Type: text/calendar\n\nBEGIN:VCALENDAR\n", 0, "not text/plain" },
    { "attached message",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nSubject: x\n\ny\n--b--\n",
      0, "not text/plain" },
    { "digest part without Content-Type",
      "Content-Type: multipart/digest; boundary=b\n\n--b\n\nSubject: x\n\ny\n--b--\n", 0, "digest" },
    { "uuencoded block in a text body", "Subject: x\n\nHere:\nbegin 644 x.com\nM4$L#!`H`\nend\n", 0, "uuencoded" },
    { "uuencode in the preamble",
      "Content-Type: multipart/mixed; boundary=b\n\nbegin-base64 644 x\n--b\n\nx\n--b--\n", 0, "uuencoded" },
    { "yEnc block", "Subject: x\n\n=ybegin line=128 size=10 name=x.exe\n", 0, "yEnc" },
    { "BinHex block", "Subject: x\n\n(This file must be converted with BinHex 4.0)\n", 0, "BinHex" },
    { "text with x-uuencode encoding", "Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nx\n",
      0, "transfer encoding" },

    { "multipart without boundary", "Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n", 0, "boundary" },
    { "multipart with an empty boundary", "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n----\n", 0,
      "boundary" },
    { "multipart with two boundaries",
      "Content-Type: multipart/mixed; boundary=a; boundary=b\n\n--b\n\nx\n--b--\n", 0, "does not parse" },
    { "multipart in base64", "Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n"
      "--b\n\nx\n--b--\n", 0, "transfer encoding" },
    { "multipart never closed", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n", 0, "not closed" },
    { "boundary never seen", "Content-Type: multipart/mixed; boundary=b\n\njust text\n", 0, "not closed" },
    { "closed without parts", "Content-Type: multipart/mixed; boundary=b\n\n--b--\n", 0, "without parts" },
    { "a line that starts with the boundary",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--bx\nContent-Type: application/zip\n\nPK\n--b--\n",
      0, "no delimiter" },
    { "an outer boundary inside the inner multipart",
      "Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
      "--inner\n\nx\n--outer\n\ny\n--outer--\n", 0, "outer boundary" },
    { "two Content-Type fields", "Content-Type: text/plain\nContent-Type: application/zip\n\nx\n", 0, "repeated" },
    { "two Content-Type fields in a part",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-type: text/html\n\nx\n"
      "--b--\n", 0, "repeated" },
    { "Content-Type without a subtype", "Content-Type: text\n\nx\n", 0, "does not parse" },
    { "Content-Type with a comment", "Content-Type: text/plain (really)\n\nx\n", 0, "does not parse" },
    { "unterminated quoted parameter", "Content-Type: text/plain; charset=\"utf-8\n\nx\n", 0, "does not parse" },
    { "a part header line that is not a field",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nnot a field\n\nx\n--b--\n", 0, "not a header field" },
    { "a part header that starts with a continuation",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n folded\n\nx\n--b--\n", 0, "continuation" },
    { "the message ends inside a part header",
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n", 0, "inside a part header" },
};

/* Turn LF line ends into CRLF. */
static void text_crlf(str *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            str_addc(out, '\r');
        str_addc(out, *s);
    }
}

static void text_field(const char *name, const char *value, ssize_t value_len, void *arg)
{
    msg_headers_add(arg, name, value, value_len);
}

/* Run one message through av_text, the body in chunks of step bytes (0 = whole); 1 = text only. */
static int text_run(const char *msg, ssize_t len, ssize_t step, const char **why)
{
    struct msg_headers hs;
    struct av_text t;
    ssize_t body = 0, off;
    int rc;

    msg_headers_init(&hs);
    body = msg_split(msg, len, text_field, &hs);
    av_text_init(&t, &hs);
    for (off = body; off < len; off += step ? step : len)
        av_text_feed(&t, msg + off, step && len - off > step ? step : len - off);
    rc = av_text_end(&t, why);
    av_text_free(&t);
    msg_headers_free(&hs);
    return rc;
}

/* Every case with LF and CRLF line ends, the body whole, byte by byte and in 7-byte chunks. */
static void test_text_only_cases(void **state)
{
    static const ssize_t steps[] = { 0, 1, 7 };

    (void) state;
    for (size_t i = 0; i < NELEM(text_cases); i++) {
        const struct text_case *c = &text_cases[i];

        for (int crlf = 0; crlf < 2; crlf++) {
            str m = STR_INIT;

            if (crlf)
                text_crlf(&m, c->msg);
            else
                str_adds(&m, c->msg);
            for (size_t k = 0; k < NELEM(steps); k++) {
                const char *why = NULL;
                int got = text_run(m.data, m.len, steps[k], &why);

                if (got != c->text_only || (!got && (why == NULL || strstr(why, c->why) == NULL)))
                    fail_msg("%s (%s, step %zd): expected %s (%s), got %s (%s)", c->name, crlf ? "CRLF" : "LF",
                             steps[k], c->text_only ? "text only" : "scan", c->why ? c->why : "-",
                             got ? "text only" : "scan", why ? why : "-");
            }
            str_free(&m);
        }
    }
}

/* A multipart nested n deep, a text part at the bottom. */
static void text_nested(str *m, int n)
{
    str_adds(m, "Content-Type: multipart/mixed; boundary=b0\n\n");
    for (int i = 0; i < n; i++) {
        str_addf(m, "--b%d\n", i);
        if (i + 1 < n)
            str_addf(m, "Content-Type: multipart/mixed; boundary=b%d\n\n", i + 1);
        else
            str_adds(m, "Content-Type: text/plain\n\ndeep\n");
    }
    for (int i = n - 1; i >= 0; i--)
        str_addf(m, "--b%d--\n", i);
}

/* Each limit: at the limit text only, past it scanned. */
static void test_text_only_limits(void **state)
{
    const char *why;
    str m = STR_INIT;

    (void) state;
    /* nesting */
    text_nested(&m, AV_TEXT_MAX_DEPTH);
    assert_int_equal(text_run(m.data, m.len, 0, &why), 1);
    str_reset(&m);
    text_nested(&m, AV_TEXT_MAX_DEPTH + 1);
    assert_int_equal(text_run(m.data, m.len, 0, &why), 0);
    assert_non_null(strstr(why, "nested too deep"));

    /* parts */
    for (int extra = 0; extra < 2; extra++) {
        str_reset(&m);
        str_adds(&m, "Content-Type: multipart/alternative; boundary=p\n\n");
        for (int i = 0; i < AV_TEXT_MAX_PARTS + extra; i++)
            str_adds(&m, "--p\nContent-Type: text/plain\n\nx\n");
        str_adds(&m, "--p--\n");
        assert_int_equal(text_run(m.data, m.len, 0, &why), !extra);
        if (extra)
            assert_non_null(strstr(why, "too many parts"));
    }

    /* boundary length */
    for (int extra = 0; extra < 2; extra++) {
        str b = STR_INIT;

        for (int i = 0; i < AV_TEXT_MAX_BOUNDARY + extra; i++)
            str_addc(&b, 'a' + i % 26);
        str_reset(&m);
        str_addf(&m, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n\nx\n--%s--\n", b.data, b.data, b.data);
        assert_int_equal(text_run(m.data, m.len, 3, &why), !extra);
        if (extra)
            assert_non_null(strstr(why, "boundary"));
        str_free(&b);
    }

    /* part header size (LF line ends counted): a long folded field in a part, LF and CRLF */
    for (int extra = 0; extra < 4; extra++) {
        const char *head = "Content-Type: text/plain\nX-Long: ";
        ssize_t fill = AV_TEXT_MAX_PART_HEADER - (ssize_t) strlen(head) - 1 + extra % 2;
        str lf = STR_INIT;

        str_reset(&m);
        str_addf(&lf, "Content-Type: multipart/mixed; boundary=b\n\n--b\n%s", head);
        for (ssize_t i = 0; i < fill; i++)
            str_addc(&lf, i % 70 == 69 ? '\n' : (i % 70 == 0 && i ? ' ' : 'y'));
        str_adds(&lf, "\n\nx\n--b--\n");
        if (extra >= 2)
            text_crlf(&m, lf.data);
        else
            str_add(&m, lf.data, lf.len);
        str_free(&lf);
        assert_int_equal(text_run(m.data, m.len, 100, &why), !(extra % 2));
        if (extra % 2)
            assert_non_null(strstr(why, "too long"));
    }

    /* a very long line that starts with the boundary: not a delimiter, and ambiguous */
    str_reset(&m);
    str_adds(&m, "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b");
    for (int i = 0; i < 5000; i++)
        str_addc(&m, ' ');
    str_adds(&m, "\n--b--\n");
    assert_int_equal(text_run(m.data, m.len, 64, &why), 0);
    assert_non_null(strstr(why, "no delimiter"));

    /* long lines in a text body are fine */
    str_reset(&m);
    str_adds(&m, "Content-Type: text/plain\n\n");
    for (int i = 0; i < 100000; i++)
        str_addc(&m, 'z');
    str_adds(&m, "\n");
    assert_int_equal(text_run(m.data, m.len, 4096, &why), 1);
    str_free(&m);
}

/* The EICAR string in a plain text body: text only, and found when scanned. */
static void test_text_only_eicar_body(void **state)
{
    const char *why;
    str m = STR_INIT;

    (void) state;
    str_adds(&m, "From: a@example.com\r\nSubject: test\r\nContent-Type: text/plain\r\n\r\nThe test string:\r\n");
    str_add(&m, eicar_buf, (ssize_t) eicar_len);
    str_adds(&m, "\r\n");
    assert_int_equal(text_run(m.data, m.len, 0, &why), 1);
    expect_scan_at(__LINE__, &m, AV_INFECTED, NAME_EICAR);
    str_free(&m);
}

/* ---------------------------------------------------------------- text parts */

/* Run m through av_text (body in steps of step bytes, 0 = whole) and, when
   text only, av_scan_text_parts; returns what that returned (-1: not text only). */
static int parts_run(const str *m, ssize_t step, int64_t spill, struct av_report *r, str *leaves_out)
{
    struct msg_headers hs;
    struct av_text t;
    struct av_buffer b;
    const struct av_text_leaf *lv;
    ssize_t body, off;
    int rc = -1;

    msg_headers_init(&hs);
    body = msg_split(m->data, m->len, text_field, &hs);
    av_text_init(&t, &hs);
    for (off = body; off < m->len; off += step ? step : m->len)
        av_text_feed(&t, m->data + off, step && m->len - off > step ? step : m->len - off);
    av_buffer_init(&b);
    if (spill > 0)
        b.spill_threshold = spill;
    av_buffer_add(&b, m->data, m->len);
    if (av_text_end(&t, NULL)) {
        int n = av_text_leaves(&t, &lv);

        /* Each leaf as "[enc]body|" for the offset tests. */
        for (int i = 0; leaves_out != NULL && i < n; i++)
            str_addf(leaves_out, "[%d%s]%.*s|", (int) lv[i].enc, lv[i].html ? "h" : "",
                     (int) (lv[i].end - lv[i].start), m->data + body + lv[i].start);
        rc = r != NULL ? av_scan_text_parts(&b, body, &t, r) : 0;
    }
    av_buffer_free(&b);
    av_text_free(&t);
    msg_headers_free(&hs);
    return rc;
}

/* Where each text part's body is, with LF and CRLF, fed whole, byte by byte and in 7-byte chunks. */
static void test_text_parts_offsets(void **state)
{
    static const struct {
        const char *msg, *want;
    } cases[] = {
        { "Subject: x\n\nhello\nworld\n", "[0]hello\nworld\n|" },
        { "Content-Transfer-Encoding: base64\n\naGk=\n", "[2]aGk=\n|" },
        { "Content-Type: multipart/alternative; boundary=b\n\npreamble\n--b\nContent-Type: text/plain\n\n"
          "one\nline2\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
          "tw=3Do\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b\n\n--b--\nepilogue\n",
          "[0]one\nline2|[1]tw=3Do|[0h]<p>x</p>|[0]|" },
        { "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n"
          "--i\n\ninner\n--i--\nbetween\n--o\n\nouter\n--o--\n", "[0]inner|[0]outer|" },
        { "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlast line has no end\n--b--", "[0]last line has no end|" },
        { "Subject: no line end\n\nabc", "[0]abc|" },
    };
    static const ssize_t steps[] = { 0, 1, 7 };

    (void) state;
    for (size_t i = 0; i < NELEM(cases); i++)
        for (int crlf = 0; crlf < 2; crlf++)
            for (size_t k = 0; k < NELEM(steps); k++) {
                str m = STR_INIT, got = STR_INIT, want = STR_INIT;

                if (crlf) {
                    text_crlf(&m, cases[i].msg);
                    text_crlf(&want, cases[i].want);
                } else {
                    str_adds(&m, cases[i].msg);
                    str_adds(&want, cases[i].want);
                }
                assert_int_equal(parts_run(&m, steps[k], 0, NULL, &got), 0);
                if (strcmp(str_cstr(&got), str_cstr(&want)) != 0)
                    fail_msg("case %zu (%s, step %zd): %s, wanted %s", i, crlf ? "CRLF" : "LF", steps[k],
                             str_cstr(&got), str_cstr(&want));
                str_free(&m);
                str_free(&got);
                str_free(&want);
            }
}

/* Scan m part by part: expect rc from av_scan_text_parts and, when 1, the result and name. */
static void expect_parts_at(int line, const str *m, int64_t spill, int want_rc, enum av_result want,
                            const char *detail)
{
    struct av_report r;
    int rc;

    av_report_init(&r);
    rc = parts_run(m, 5, spill, &r, NULL);
    if (rc != want_rc)
        fail_msg("line %d: av_scan_text_parts returned %d, wanted %d", line, rc, want_rc);
    if (rc == 1 && r.result != want)
        fail_msg("line %d: %s (%s), wanted %s", line, av_result_name(r.result), str_cstr(&r.detail),
                 av_result_name(want));
    if (rc == 1 && detail != NULL && strcmp(str_cstr(&r.detail), detail) != 0)
        fail_msg("line %d: \"%s\", wanted \"%s\"", line, str_cstr(&r.detail), detail);
    av_report_free(&r);
}

#define expect_parts(m, spill, rc, want, detail) expect_parts_at(__LINE__, m, spill, rc, want, detail)

/* EICAR as each encoding carries it: found part by part, and by the mail parser too. */
static void test_text_parts_scan(void **state)
{
    static const char *const head = "From: a@example.com\r\nSubject: test\r\nMIME-Version: 1.0\r\n";
    static const char *const to_parser[] = {
        "Content-Type: text/html\r\n\r\n<p>hi</p>\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n\r\na=ZZb\r\n",
        "Content-Transfer-Encoding: base64\r\n\r\naGVs!bG8=\r\n",
        "Content-Transfer-Encoding: base64\r\n\r\naGk=aGk=\r\n",
    };
    str m = STR_INIT, enc = STR_INIT;
    int seeks = lseek_minus_one;

    (void) state;
    /* 7bit */
    str_addf(&m, "%sContent-Type: text/plain\r\n\r\nThe test string:\r\n", head);
    str_add(&m, eicar_buf, (ssize_t) eicar_len);
    str_adds(&m, "\r\n");
    expect_parts(&m, 0, 1, AV_INFECTED, NAME_EICAR);
    expect_scan(&m, AV_INFECTED, NAME_EICAR);

    /* quoted-printable, every byte escaped (both cases of hex), soft line breaks */
    str_reset(&m);
    for (size_t i = 0; i < eicar_len; i++) {
        str_addf(&enc, i % 2 ? "=%02x" : "=%02X", (unsigned char) eicar_buf[i]);
        if (i % 20 == 19)
            str_adds(&enc, "=\r\n");
    }
    str_addf(&m, "%sContent-Type: multipart/alternative; boundary=\"xx\"\r\n\r\n--xx\r\n"
                 "Content-Type: text/plain\r\n\r\nclean part\r\n--xx\r\n"
                 "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n"
                 "--xx--\r\n", head, str_cstr(&enc));
    expect_parts(&m, 0, 1, AV_INFECTED, NAME_EICAR);
    /* The part-by-part scan of the whole message (clean: the mail parser off) must not
       leave a clean-cache entry that answers for the scan with the mail parser on. */
    expect_scan(&m, AV_INFECTED, NAME_EICAR);
    /* A soft line break with blanks after the "=" (RFC 2045 6.7 (3): they are to be
       removed). libclamav 1.4.6's mail parser does not take it as one (not checked). */
    str_reset(&m);
    str_reset(&enc);
    for (size_t i = 0; i < eicar_len; i++) {
        str_addf(&enc, "=%02X", (unsigned char) eicar_buf[i]);
        if (i % 20 == 19)
            str_adds(&enc, "= \t\r\n");
    }
    str_addf(&m, "%sContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n",
             head, str_cstr(&enc));
    expect_parts(&m, 0, 1, AV_INFECTED, NAME_EICAR);
    /* past the spill threshold: the mail parser */
    expect_parts(&m, 64, 0, AV_CLEAN, NULL);

    /* base64 */
    str_reset(&m);
    str_reset(&enc);
    base64_add(&enc, eicar_buf, eicar_len, "\r\n");
    str_addf(&m, "%sContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
             head, str_cstr(&enc));
    expect_parts(&m, 0, 1, AV_INFECTED, NAME_EICAR);
    expect_scan(&m, AV_INFECTED, NAME_EICAR);

    /* clean text, two parts */
    str_reset(&m);
    str_addf(&m, "%sContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nhello\r\n--b\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b--\r\n", head);
    expect_parts(&m, 0, 1, AV_CLEAN, "");

    /* Left to the mail parser: an HTML part, a bare "=", base64 with a stray character or
       data after the padding; then too many parts, an attachment (not text only). */
    for (size_t i = 0; i < NELEM(to_parser); i++) {
        str_reset(&m);
        str_addf(&m, "%s%s", head, to_parser[i]);
        expect_parts_at((int) i, &m, 0, 0, AV_CLEAN, NULL);
    }
    for (int extra = 0; extra < 2; extra++) {
        str_reset(&m);
        str_addf(&m, "%sContent-Type: multipart/mixed; boundary=p\r\n\r\n", head);
        for (int i = 0; i < AV_TEXT_SCAN_MAX_PARTS + extra; i++)
            str_adds(&m, "--p\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        str_adds(&m, "--p--\r\n");
        expect_parts(&m, 0, !extra, AV_CLEAN, "");
    }
    str_reset(&m);
    str_addf(&m, "%sContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\n"
                 "Content-Type: application/octet-stream\r\n\r\nx\r\n--b--\r\n", head);
    expect_parts(&m, 0, -1, AV_CLEAN, NULL);
    /* Every whole-message scan above read the message behind its first line through a
       handle map. */
    expect_handle_seeks_safe(seeks);
    str_free(&m);
    str_free(&enc);
}

/* Start the scanner again on the base database plus file (data) in a directory of its own. */
static void init_with_extra(const char *dirname, const char *file, const char *data, size_t len)
{
    char dir[300], path[400];
    struct av_options o;

    path_in(dir, sizeof(dir), dirname);
    copy_db(dir, NULL);
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    write_file(path, data, len);
    av_shutdown();
    test_options(&o, dir);
    assert_int_equal(av_init(&o), 0);
}

/*
 * A hash signature of a text part as libclamav's mail parser hands it on
 * (lines ended with a bare LF, the last one too): found part by part as
 * through the mail parser, whatever the part's line ends and encoding.
 */
static void test_text_parts_hash(void **state)
{
    /* MD5 and size of "hello rampart world 8d3f\nsecond line here\n" */
    static const char hdb[] = "216f5ed8077890a3eef716eca46e92f6:42:Rampart.Test.TextPart\n";
    static const char *const bodies[] = {
        "Content-Type: text/plain\r\n\r\nhello rampart world 8d3f\r\nsecond line here\r\n",
        "Content-Type: text/plain\n\nhello rampart world 8d3f\nsecond line here\n",
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        "hello rampart world 8d3f\r\nsecond line here\r\n--b\r\n\r\nother\r\n--b--\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nhello rampart w=6Frld 8d3f\r\nsec=\r\nond line here\r\n",
    };
    str m = STR_INIT;

    (void) state;
    init_with_extra("texthash", "rampart-text.hdb", hdb, sizeof(hdb) - 1);
    for (size_t i = 0; i < NELEM(bodies); i++) {
        str_reset(&m);
        str_addf(&m, "From: a@example.com\r\nSubject: hash %zu\r\nMIME-Version: 1.0\r\n%s", i, bodies[i]);
        expect_parts_at((int) i, &m, 0, 1, AV_INFECTED, "Rampart.Test.TextPart.UNOFFICIAL");
        expect_scan_at((int) i, &m, AV_INFECTED, "Rampart.Test.TextPart.UNOFFICIAL");
    }
    str_free(&m);
}

/* A signature for mail files (target type 4) on a header field: the whole message is still scanned. */
static void test_text_parts_mail_signature(void **state)
{
    static const char subject[] = "rampart mail-file signature 5d1c";
    str line = STR_INIT, m = STR_INIT;

    (void) state;
    str_adds(&line, "Rampart.Test.MailSubject:4:*:");
    for (size_t i = 0; subject[i] != '\0'; i++)
        str_addf(&line, "%02x", (unsigned char) subject[i]);
    str_addc(&line, '\n');
    init_with_extra("mailsig", "rampart-mail.ndb", line.data, (size_t) line.len);
    str_addf(&m, "From: a@example.com\r\nSubject: %s\r\n\r\nplain text\r\n", subject);
    expect_scan(&m, AV_INFECTED, "Rampart.Test.MailSubject.UNOFFICIAL");
    expect_parts(&m, 0, 1, AV_INFECTED, "Rampart.Test.MailSubject.UNOFFICIAL");
    str_free(&line);
    str_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eicar_base64_attachment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eicar_in_zip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eicar_in_attached_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eicar_unusual_first_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_mail_with_attachments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clamav_testfiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_zip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_file_and_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_spill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_spill_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_info, setup, teardown),
        cmocka_unit_test_teardown(test_names_and_options, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_reload_under_load, setup, teardown),
        cmocka_unit_test(test_text_only_cases),
        cmocka_unit_test(test_text_only_limits),
        cmocka_unit_test_setup_teardown(test_text_only_eicar_body, setup, teardown),
        cmocka_unit_test(test_text_parts_offsets),
        cmocka_unit_test_setup_teardown(test_text_parts_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_parts_mail_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_parts_hash, setup, teardown),
    };

    return cmocka_run_group_tests_name("av", tests, group_setup, group_teardown);
}
