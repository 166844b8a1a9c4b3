/*
 * fuzz_policy.c - the Postfix policy protocol parser (policy_parse).
 *
 * The input is one request as the service hands it over: the bytes before
 * the empty line. A parsed request has at most POLICY_MAX_ATTRS
 * attributes, each a non-empty name without '=' and a value, neither with
 * a line end or a NUL; a refused one says why and keeps nothing.
 */
#include "config.h"

#include "fuzz.h"
#include "policy.h"
#include "str.h"

/* libFuzzer: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_quiet();
    return 0;
}

/* libFuzzer: one input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct policy_request req;
    str why = STR_INIT;

    if (policy_parse((const char *) data, (ssize_t) size, &req, &why) != 0) {
        FUZZ_ASSERT(why.len > 0);
        FUZZ_ASSERT(req.n == 0);
        str_free(&why);
        return 0;
    }
    FUZZ_ASSERT(why.len == 0);
    FUZZ_ASSERT(req.n >= 0 && req.n <= POLICY_MAX_ATTRS);
    for (int i = 0; i < req.n; i++) {
        const char *name = req.name[i], *value = req.value[i];

        FUZZ_ASSERT(name[0] != '\0');
        FUZZ_ASSERT(strchr(name, '=') == NULL && strchr(name, '\n') == NULL);
        FUZZ_ASSERT(strchr(value, '\n') == NULL);
        FUZZ_ASSERT(memmem(data, size, name, strlen(name)) != NULL);
        FUZZ_ASSERT(policy_attr(&req, name) != NULL);
    }
    FUZZ_ASSERT(policy_attr(&req, "no such attribute") != NULL);
    policy_request_free(&req);
    FUZZ_ASSERT(req.n == 0);
    str_free(&why);
    return 0;
}
