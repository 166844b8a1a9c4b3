/* cidr.h - IPv4/IPv6 addresses and networks. */
#ifndef RAMPART_CIDR_H
#define RAMPART_CIDR_H

#include <netinet/in.h>

#include "str.h"

/* An address: IPv4-mapped IPv6 addresses are stored as IPv4. */
struct cidr_addr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char b[16];     /* 4 or 16 bytes, network order */
};

struct cidr_net {
    struct cidr_addr addr;
    int bits;
};

/* Parse "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "[2001:db8::1]", "IPv6:2001:db8::1"; -1 if not an address. */
int cidr_addr_parse(const char *s, struct cidr_addr *out);
void cidr_addr_format(const struct cidr_addr *a, str *out);
/* Parse "192.0.2.0/24", "2001:db8::/32" or a single address; -1 if bad (bits out of range, junk). */
int cidr_net_parse(const char *s, struct cidr_net *out);
int cidr_match(const struct cidr_net *net, const struct cidr_addr *a);

/* A list of networks, e.g. trusted_networks. */
struct cidr_list {
    int n;
    struct cidr_net *nets;
};
/* Parse words into a list; on a bad word returns -1 with it named in err. */
int cidr_list_parse(struct cidr_list *l, char *const *words, int n, str *err);
int cidr_list_match(const struct cidr_list *l, const struct cidr_addr *a);
void cidr_list_free(struct cidr_list *l);

#endif
