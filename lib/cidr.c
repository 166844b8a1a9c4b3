/*
 * cidr.c - address and network parsing and matching. An IPv4-mapped IPv6
 * address (::ffff:192.0.2.1) is treated as the IPv4 address it carries,
 * so a v4 network matches it, as admins expect.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "mem.h"
#include "util.h"

/* Parse an address in the usual spellings. */
int cidr_addr_parse(const char *s, struct cidr_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t len = strlen(s);
    struct in6_addr a6;

    if (len > 5 && strncasecmp(s, "ipv6:", 5) == 0) {
        s += 5;
        len -= 5;
    }
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &a6) != 1)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        out->family = AF_INET;
        memcpy(out->b, &a6.s6_addr[12], 4);
    } else {
        out->family = AF_INET6;
        memcpy(out->b, &a6, 16);
    }
    return 0;
}

/* Print an address. */
void cidr_addr_format(const struct cidr_addr *a, str *out)
{
    char buf[INET6_ADDRSTRLEN];

    if (inet_ntop(a->family, a->b, buf, sizeof(buf)) != NULL)
        str_adds(out, buf);
}

/* Parse a network. */
int cidr_net_parse(const char *s, struct cidr_net *out)
{
    const char *slash = strchr(s, '/');
    char buf[INET6_ADDRSTRLEN + 8];
    int max;

    if (slash == NULL) {
        if (cidr_addr_parse(s, &out->addr) != 0)
            return -1;
        out->bits = out->addr.family == AF_INET ? 32 : 128;
        return 0;
    }
    if ((size_t) (slash - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t) (slash - s));
    buf[slash - s] = '\0';
    if (cidr_addr_parse(buf, &out->addr) != 0)
        return -1;
    max = out->addr.family == AF_INET ? 32 : 128;
    if (strchr(buf, ':') && out->addr.family == AF_INET)
        max = 128;   /* ::ffff:a.b.c.d/120 style: count in IPv6 bits */
    {
        char *end;
        long bits = strtol(slash + 1, &end, 10);

        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits < 0 || bits > max)
            return -1;
        out->bits = (int) bits;
    }
    if (max == 128 && out->addr.family == AF_INET)
        out->bits = out->bits >= 96 ? out->bits - 96 : 0;
    return 0;
}

/* Does net contain a? */
int cidr_match(const struct cidr_net *net, const struct cidr_addr *a)
{
    int full, rest;

    if (net->addr.family != a->family)
        return 0;
    full = net->bits / 8;
    rest = net->bits % 8;
    if (memcmp(net->addr.b, a->b, (size_t) full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char) (0xff << (8 - rest));

        return (net->addr.b[full] & mask) == (a->b[full] & mask);
    }
    return 1;
}

/* Parse a list of networks. */
int cidr_list_parse(struct cidr_list *l, char *const *words, int n, str *err)
{
    l->n = 0;
    l->nets = mem_alloc((ssize_t) sizeof(*l->nets) * (n ? n : 1));
    for (int i = 0; i < n; i++) {
        if (cidr_net_parse(words[i], &l->nets[l->n]) != 0) {
            str_addf(err, "not a network: %s", words[i]);
            cidr_list_free(l);
            return -1;
        }
        l->n++;
    }
    return 0;
}

int cidr_list_match(const struct cidr_list *l, const struct cidr_addr *a)
{
    for (int i = 0; i < l->n; i++)
        if (cidr_match(&l->nets[i], a))
            return 1;
    return 0;
}

void cidr_list_free(struct cidr_list *l)
{
    mem_free(l->nets);
    l->nets = NULL;
    l->n = 0;
}
