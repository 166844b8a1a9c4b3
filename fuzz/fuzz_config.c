/*
 * fuzz_config.c - the rampart.conf parser (config_load).
 *
 * The input is a whole configuration file, written to a memory file and
 * loaded by path as the daemon would. A file that loads must print back
 * (config_print_changed, as "rampartd -n" does) to a file that loads to
 * the same configuration; a file that does not load must say why.
 */
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "rconfig.h"
#include "str.h"

static int fuzz_fd = -1;
static char fuzz_path[64];

/* Replace the memory file's content. */
static void put_file(const void *data, size_t size)
{
    if (ftruncate(fuzz_fd, 0) != 0 || (size > 0 && pwrite(fuzz_fd, data, size, 0) != (ssize_t) size))
        abort();
}

/* What "rampartd -n" prints for c. */
static void changed(const struct config *c, str *out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        abort();
    config_print_changed(c, f);
    fclose(f);
    str_add(out, buf, (ssize_t) len);
    free(buf);
}

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    fuzz_fd = memfd_create("rampart.conf", 0);
    if (fuzz_fd < 0)
        abort();
    snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
    return 0;
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str err = STR_INIT, first = STR_INIT, second = STR_INIT, value = STR_INIT;
    struct config *c, *again;

    put_file(data, size);
    c = config_load(fuzz_path, &err);
    if (c == NULL) {
        FUZZ_ASSERT(err.len > 0);
        str_free(&err);
        return 0;
    }
    FUZZ_ASSERT(err.len == 0);
    for (int i = 0; i < config_param_count(); i++) {
        str_reset(&value);
        FUZZ_ASSERT(config_format(c, config_param_name(i), &value) == 0);
    }
    /* Round trip: what -n prints is a configuration file meaning the same. */
    changed(c, &first);
    put_file(first.data, (size_t) first.len);
    again = config_load(fuzz_path, &err);
    if (again == NULL)
        fprintf(stderr, "printed configuration does not load:\n%s\n%s", str_cstr(&first),
                str_cstr(&err));
    FUZZ_ASSERT(again != NULL);
    changed(again, &second);
    FUZZ_ASSERT(first.len == second.len
                && memcmp(str_cstr(&first), str_cstr(&second), (size_t) first.len) == 0);
    config_unref(again);
    config_unref(c);
    str_free(&err);
    str_free(&first);
    str_free(&second);
    str_free(&value);
    return 0;
}
