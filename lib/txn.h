/*
 * txn.h - one SMTP transaction as the core sees it, whichever front door
 * it came through: facts gathered by the milter (or rampart-check), the
 * checks' results, the verdict, and what the front door must do about it.
 */
#ifndef RAMPART_TXN_H
#define RAMPART_TXN_H

#include <stdint.h>

#include "authres.h"
#include "cidr.h"
#include "msg.h"
#include "rconfig.h"
#include "str.h"
#include "verdict.h"

#define TXN_MAX_VALUE 1024       /* bytes kept of a HELO name, address, macro */
#define TXN_MAX_CHECKS 16

/* Which limit a message broke. */
enum txn_limit {
    TXN_LIMIT_NONE,
    TXN_LIMIT_HEADER_COUNT,
    TXN_LIMIT_HEADER_SIZE,
    TXN_LIMIT_HEADERS_SIZE,
    TXN_LIMIT_MESSAGE_SIZE,
};

/* A header edit for the front door to apply at end of message. */
enum txn_edit_op { TXN_EDIT_INSERT, TXN_EDIT_ADD, TXN_EDIT_CHANGE, TXN_EDIT_DELETE };

struct txn_edit {
    enum txn_edit_op op;
    char *name;
    int index;      /* INSERT: position (0 = top); CHANGE/DELETE: 1-based occurrence of name */
    char *value;    /* NULL for DELETE */
};

struct txn {
    /* connection */
    struct config *cfg;            /* the configuration this message is judged by */
    str client_addr;
    struct cidr_addr client_ip;
    int client_ip_valid;
    str client_name;
    str helo;
    int trusted;                   /* client in trusted_networks */
    /* message */
    int in_message;
    str queue_id;
    str mail_from;
    str auth_user;
    int skip;                      /* trusted or authenticated: no checks */
    int nrcpt;
    struct msg_headers headers;
    int ar_seen;                   /* Authentication-Results fields seen so far */
    int *ar_remove;                /* 1-based occurrences to remove */
    int n_ar_remove;
    int ar_flood;                  /* more forged ones than can be removed: refuse */
    int ar_removed;                /* removals queued at end of message (for the log) */
    int64_t body_bytes;
    enum txn_limit limit;
    int64_t mail_ms;               /* clock at MAIL FROM */
    int64_t since_ms;              /* clock at connect or at the end of the connection's
                                      previous message: what the policy service handed
                                      over later is about this one */
    int64_t dns_ms;                /* time spent waiting for DNS at end of message */
    /* results */
    struct verdict verdict;
    struct authres authres;
    void *check_state[TXN_MAX_CHECKS];
    int64_t check_ms[TXN_MAX_CHECKS]; /* time each check's hooks took for this message */
    /* for the front door */
    int nedits;
    struct txn_edit *edits;
    char *quarantine_reason;       /* non-NULL: put the message on hold */
    str reply;                     /* reject/tempfail text */
};

void txn_init(struct txn *t);
/* Forget the message, keep the connection facts. */
void txn_reset_message(struct txn *t);
void txn_free(struct txn *t);

/* Connection facts; values are bounded to TXN_MAX_VALUE bytes. */
void txn_set_client(struct txn *t, const char *addr, const char *name);
void txn_set_helo(struct txn *t, const char *helo);

/* Pipeline stages, in SMTP order. Each takes the current configuration at MAIL FROM. */
void txn_mail(struct txn *t, const char *mail_from, const char *auth_user);
void txn_rcpt(struct txn *t, const char *rcpt);
void txn_header(struct txn *t, const char *name, const char *value, ssize_t value_len);
void txn_eoh(struct txn *t);
void txn_body(struct txn *t, const unsigned char *data, ssize_t len);
/* Decide: fills verdict, authres, edits, quarantine_reason and reply. */
void txn_eom(struct txn *t);

void txn_add_edit(struct txn *t, enum txn_edit_op op, const char *name, int index, const char *value);

/* The summary log line for the message. */
void txn_log(struct txn *t, int64_t total_ms);

#endif
