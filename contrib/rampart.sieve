# Sieve rules (RFC 5228) for mailboxes behind rampart: file tagged mail in
# Junk and quarantined mail (after it is released from the hold queue) in
# Quarantine. Use as a global "sieve_before" script (Dovecot Pigeonhole) so
# users cannot forget it; rampart removes nothing from X-Rampart-Action
# headers of incoming mail, so pair it with the Postfix rule in
# postfix-milter_header_checks, or trust only the last such header.
require ["fileinto"];

if header :is "X-Rampart-Action" "quarantine" {
    fileinto "Quarantine";
    stop;
}
if header :is "X-Rampart-Action" "tag" {
    fileinto "Junk";
    stop;
}
