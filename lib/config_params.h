/*
 * config_params.h - every configuration parameter, in one table.
 *
 * Each row gives the name an admin writes in rampart.conf (which is also
 * the member of struct config), its type, and its default as it would be
 * written in the file. Types: STR, BOOL (yes/no), INT, TIME (milliseconds;
 * written with a unit: 500ms, 10s, 5m, 1h, 1d; no unit means seconds),
 * SIZE (bytes; k, m, g suffixes are powers of 1024), LIST (words separated
 * by commas or white space), LISTEN (a socket spec, empty = off), MODE
 * (octal file mode), FACILITY (syslog facility), LEVEL (log level),
 * ACTION (accept, tag, quarantine, tempfail, discard, reject), TEMPACTION
 * (what a temporary error may become: tempfail or accept), CHECKMODE
 * (enforce, monitor, off), NETS (a LIST of addresses and CIDR networks).
 * Limits: INT/TIME/SIZE rows give the smallest and largest value allowed.
 *
 * Every row must be documented in man/rampart.conf.5 and conf/rampart.conf;
 * tests/check-documented enforces it.
 */
#ifndef RAMPART_CONFIG_PARAMS_H
#define RAMPART_CONFIG_PARAMS_H

#include "config_policy.h"
#include "config_metrics.h"

/* X(name, type, default, min, max); the policy service and metrics have their own lists. */
#define CONFIG_PARAMS(X) CONFIG_PARAMS_CORE(X) CONFIG_PARAMS_POLICY(X) CONFIG_PARAMS_METRICS(X)

#define CONFIG_PARAMS_CORE(X) \
    /* listeners and process */ \
    X(milter_listen, LISTEN, "unix:/var/spool/postfix/rampart/milter.sock", 0, 0) \
    X(policy_listen, LISTEN, "", 0, 0) \
    X(socket_owner, STR, "", 0, 0) \
    X(socket_group, STR, "postfix", 0, 0) \
    X(socket_mode, MODE, "0660", 0, 07777) \
    X(user, STR, "", 0, 0) \
    X(allow_root, BOOL, "no", 0, 0) \
    X(pid_file, STR, "/run/rampart/rampartd.pid", 0, 0) \
    X(shutdown_timeout, TIME, "30s", 0, 3600000) \
    X(milter_io_timeout, TIME, "300s", 1000, 86400000) \
    X(policy_max_connections, INT, "1000", 1, 100000) \
    X(policy_idle_timeout, TIME, "600s", 1000, 86400000) \
    X(policy_request_timeout, TIME, "30s", 100, 3600000) \
    X(policy_max_request_size, SIZE, "32k", 512, 16777216) \
    X(policy_workers, INT, "8", 1, 256) \
    /* logging */ \
    X(syslog_facility, FACILITY, "mail", 0, 0) \
    X(syslog_name, STR, "rampartd", 0, 0) \
    X(log_level, LEVEL, "info", 0, 0) \
    /* DNS */ \
    X(dns_forwarders, LIST, "", 0, 0) \
    X(dns_timeout, TIME, "5s", 100, 60000) \
    X(dns_trust_anchor_file, STR, "", 0, 0) \
    X(dns_cache_size, SIZE, "4m", 0, 1073741824) \
    /* the pipeline */ \
    X(trusted_networks, NETS, "127.0.0.0/8, ::1", 0, 0) \
    X(skip_authenticated, BOOL, "yes", 0, 0) \
    X(max_header_count, INT, "1000", 10, 100000) \
    X(max_header_size, SIZE, "64k", 1024, 16777216) \
    X(max_headers_size, SIZE, "1m", 4096, 67108864) \
    X(max_message_size, SIZE, "100m", 65536, 2147483648) \
    X(limits_mode, CHECKMODE, "enforce", 0, 0) \
    X(limits_action, ACTION, "reject", 0, 0) \
    /* SPF */ \
    X(spf_mode, CHECKMODE, "enforce", 0, 0) \
    X(spf_engine, ENUM, "rampart", 0, 0) \
    X(spf_mailfrom_actions, ACTIONMAP, \
      "fail=reject, softfail=tag, neutral=accept, none=accept, permerror=tag, temperror=tempfail", 0, 0) \
    X(spf_helo_actions, ACTIONMAP, \
      "fail=tag, softfail=accept, neutral=accept, none=accept, permerror=accept, temperror=accept", 0, 0) \
    X(spf_both_fail_action, ACTION, "reject", 0, 0) \
    X(spf_allow_forwarders, LIST, "", 0, 0) \
    X(spf_received_spf_header, BOOL, "no", 0, 0) \
    X(spf_timeout, TIME, "20s", 1000, 120000) \
    X(spf_max_dns_mechanisms, INT, "10", 1, 100) \
    X(spf_max_void_lookups, INT, "2", 1, 100) \
    /* DKIM */ \
    X(dkim_mode, CHECKMODE, "enforce", 0, 0) \
    X(dkim_actions, ACTIONMAP, \
      "none=accept, pass=accept, fail=accept, neutral=accept, policy=accept, permerror=accept, temperror=accept", \
      0, 0) \
    X(dkim_allow_sha1, BOOL, "no", 0, 0) \
    X(dkim_min_rsa_bits, INT, "1024", 512, 16384) \
    X(dkim_max_signatures, INT, "8", 0, 64) \
    X(dkim_ignore_length_tag, BOOL, "no", 0, 0) \
    X(dkim_clock_skew, TIME, "300s", 0, 86400000) \
    X(dkim_timeout, TIME, "10s", 100, 60000) \
    /* DMARC */ \
    X(dmarc_mode, CHECKMODE, "enforce", 0, 0) \
    X(dmarc_spec, ENUM, "rfc9989", 0, 0) \
    X(dmarc_public_suffix_list, STR, "/usr/share/publicsuffix/public_suffix_list.dat", 0, 0) \
    X(dmarc_reject_action, ACTION, "reject", 0, 0) \
    X(dmarc_quarantine_action, ACTION, "quarantine", 0, 0) \
    X(dmarc_none_action, ACTION, "tag", 0, 0) \
    X(dmarc_bad_from_action, ACTION, "reject", 0, 0) \
    X(dmarc_permerror_action, ACTION, "accept", 0, 0) \
    X(dmarc_temperror_action, TEMPACTION, "tempfail", 0, 0) \
    X(dmarc_override, LIST, "", 0, 0) \
    X(dmarc_report_file, STR, "", 0, 0) \
    X(dmarc_timeout, TIME, "10s", 100, 120000) \
    X(dmarc_max_lookups, INT, "32", 8, 256) \
    /* virus scanning */ \
    X(av_mode, CHECKMODE, "enforce", 0, 0) \
    X(av_database_dir, STR, "/var/lib/clamav", 0, 0) \
    X(av_temp_dir, STR, "", 0, 0) \
    X(av_infected_action, ACTION, "reject", 0, 0) \
    X(av_unscannable_action, ACTION, "accept", 0, 0) \
    X(av_error_action, TEMPACTION, "tempfail", 0, 0) \
    X(av_unavailable_action, TEMPACTION, "tempfail", 0, 0) \
    X(av_header, BOOL, "yes", 0, 0) \
    X(av_skip_text_only, BOOL, "no", 0, 0) \
    X(av_text_parts, BOOL, "yes", 0, 0) \
    X(av_spill_threshold, SIZE, "1m", 0, 1073741824) \
    X(av_max_scan_size, SIZE, "100m", 1048576, 4294967296) \
    X(av_max_file_size, SIZE, "25m", 65536, 2147483648) \
    X(av_max_recursion, INT, "17", 1, 64) \
    X(av_max_files, INT, "10000", 1, 1000000) \
    X(av_max_scan_time, TIME, "60s", 100, 600000) \
    X(av_self_check_interval, TIME, "60s", 0, 86400000) \
    X(av_concurrent_reload, BOOL, "yes", 0, 0) \
    /* DNS lists */ \
    X(dnsbl_mode, CHECKMODE, "enforce", 0, 0) \
    X(dnsbl_sites, LIST, "", 0, 0) \
    X(dnsbl_local_block, LIST, "", 0, 0) \
    X(dnsbl_local_allow, LIST, "", 0, 0) \
    X(dnsbl_tag_score, INT, "1", 0, 1000000) \
    X(dnsbl_quarantine_score, INT, "0", 0, 1000000) \
    X(dnsbl_reject_score, INT, "3", 0, 1000000) \
    X(dnsbl_public_suffix_list, STR, "/usr/share/publicsuffix/public_suffix_list.dat", 0, 0) \
    X(dnsbl_no_test_points, LIST, "", 0, 0) \
    X(dnsbl_health_check_interval, TIME, "5m", 0, 86400000) \
    X(dnsbl_broken_error_percent, INT, "50", 1, 100) \
    X(dnsbl_broken_min_answers, INT, "20", 1, 100000) \
    X(dnsbl_uri_max_domains, INT, "100", 1, 1000) \
    X(dnsbl_fetch_txt, BOOL, "no", 0, 0) \
    X(dnsbl_header, BOOL, "yes", 0, 0) \
    /* results */ \
    X(authserv_id, STR, "", 0, 0) \
    X(tag_subject_prefix, STR, "", 0, 0)

#endif
