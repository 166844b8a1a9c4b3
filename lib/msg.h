/*
 * msg.h - a message's header fields as the checks see them.
 *
 * The milter receives each header field as a name and a value; the value is
 * everything after the colon, leading white space kept (rampart negotiates
 * SMFIP_HDR_LEADSPC), folds as "\n" or "\r\n" followed by white space, as
 * Postfix sends them. The collector bounds the count and the total size.
 */
#ifndef RAMPART_MSG_H
#define RAMPART_MSG_H

#include <sys/types.h>

struct msg_header {
    char *name;
    char *value;
    ssize_t value_len;   /* value may contain NUL bytes: value_len is the truth */
};

struct msg_headers {
    int n;
    int cap;
    struct msg_header *h;
    ssize_t bytes;       /* sum of name and value lengths */
};

void msg_headers_init(struct msg_headers *hs);
void msg_headers_free(struct msg_headers *hs);
void msg_headers_add(struct msg_headers *hs, const char *name, const char *value, ssize_t value_len);
/* The i-th field named name (case-insensitive), counting from 0; NULL if none. */
const struct msg_header *msg_headers_find(const struct msg_headers *hs, const char *name, int i);
/* How many fields are named name. */
int msg_headers_count(const struct msg_headers *hs, const char *name);

/*
 * Split a whole message (as stored in a file) into header fields and the
 * offset of the body. Fields are given to fn as the milter would give them
 * (name, value after the colon with folds kept). A line in the header that
 * is neither a field nor a continuation ends the header (as Postfix treats
 * it). Returns the body offset.
 */
typedef void (*msg_field_fn)(const char *name, const char *value, ssize_t value_len, void *arg);
ssize_t msg_split(const char *data, ssize_t len, msg_field_fn fn, void *arg);

#endif
