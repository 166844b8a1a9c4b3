#!/bin/bash
# DNS sanity: the lab resolver answers the test zones (NSD), the DNS lists
# (rbldnsd), SERVFAIL for servfail.test, a timeout for timeout.test, and
# refuses everything outside the lab.
. "$LAB_SRC/lib/caselib.sh"

# NSD zones through unbound
expect_answer www.example.test A 192.0.2.80
expect_answer www.example.test TXT '"rampart lab"'
expect_answer mail.sender.example A 192.0.2.10
expect_answer sender.example TXT '"v=spf1 ip4:192.0.2.0/25 ip6:2001:db8::/64 -all"'
expect_answer nullmx.example MX '0 .'
expect_answer 10.2.0.192.in-addr.arpa PTR mail.sender.example.
expect_answer 0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa PTR mail.sender.example.
expect_status nonexistent.example A NXDOMAIN

# DNS lists (rbldnsd)
expect_answer 2.0.0.127.bl.test A 127.0.0.2
expect_answer 2.0.0.127.bl.test TXT '"Listed in bl.test, see http://bl.test/lookup?ip=127.0.0.2"'
expect_answer 66.2.0.192.bl.test A 127.0.0.2
expect_answer 130.2.0.192.bl.test A 127.0.0.3
expect_status 10.2.0.192.bl.test A NXDOMAIN
expect_answer 2.0.0.127.wl.test A 127.0.0.2
expect_answer 77.2.0.192.wl.test A 127.0.0.2
expect_answer 6.6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl6.test A 127.0.0.2
expect_answer spammy.example.dbl.test A 127.0.1.2
expect_answer www.spammy.example.dbl.test A 127.0.1.2
expect_status sender.example.dbl.test A NXDOMAIN
expect_answer evil-link.example.uribl.test A 127.0.0.2

# DKIM keys published at lab up
for sel in rsa2048 rsa1024 rsa512 ed25519; do
	expect_status "$sel._domainkey.dkim.example" TXT NOERROR
done

# temporary errors
expect_status www.servfail.test A SERVFAIL
expect_timeout www.timeout.test A
expect_timeout other.timeout.test TXT

# nothing outside the lab
expect_status example.com A REFUSED
expect_status . NS REFUSED

finish
