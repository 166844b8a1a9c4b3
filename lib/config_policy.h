/*
 * config_policy.h - the policy service's parameters (see config_params.h
 * for the row format). Documented in man/rampart.conf.5 and
 * conf/rampart.conf like every other parameter.
 *
 * The checks default to monitor: the policy service computes SPF and the
 * DNS lists at RCPT time, hands them to the milter (which decides at end
 * of message, as without the policy service) and logs what it would have
 * done; enforce refuses at RCPT time. Rate limits are off until a limit
 * is set (0 = no limit).
 */
#ifndef RAMPART_CONFIG_POLICY_H
#define RAMPART_CONFIG_POLICY_H

#define CONFIG_PARAMS_POLICY(X) \
    X(policy_check_timeout, TIME, "8s", 100, 300000) \
    X(policy_cache_time, TIME, "10m", 1000, 86400000) \
    X(policy_control_socket, STR, "", 0, 0) \
    X(policy_spf_mode, CHECKMODE, "monitor", 0, 0) \
    X(policy_spf_header, BOOL, "yes", 0, 0) \
    X(policy_dnsbl_mode, CHECKMODE, "monitor", 0, 0) \
    X(policy_sender_mode, CHECKMODE, "monitor", 0, 0) \
    X(policy_sender_tempfail_action, TEMPACTION, "tempfail", 0, 0) \
    X(policy_disposable_domains, STR, "", 0, 0) \
    X(policy_disposable_action, ACTION, "reject", 0, 0) \
    X(policy_callout_mode, CHECKMODE, "off", 0, 0) \
    X(policy_callout_from, STR, "", 0, 0) \
    X(policy_callout_port, INT, "25", 1, 65535) \
    X(policy_callout_timeout, TIME, "15s", 1000, 300000) \
    X(policy_callout_cache_time, TIME, "1d", 0, 2592000000) \
    X(policy_ratelimit_mode, CHECKMODE, "enforce", 0, 0) \
    X(policy_ratelimit_client_limit, INT, "0", 0, 100000000) \
    X(policy_ratelimit_client_window, TIME, "1h", 1000, 2592000000) \
    X(policy_ratelimit_client_action, ACTION, "tempfail", 0, 0) \
    X(policy_ratelimit_network_limit, INT, "0", 0, 100000000) \
    X(policy_ratelimit_network_window, TIME, "1h", 1000, 2592000000) \
    X(policy_ratelimit_network_action, ACTION, "tempfail", 0, 0) \
    X(policy_ratelimit_ipv4_prefix, INT, "24", 8, 32) \
    X(policy_ratelimit_ipv6_prefix, INT, "64", 16, 128) \
    X(policy_ratelimit_sender_limit, INT, "0", 0, 100000000) \
    X(policy_ratelimit_sender_window, TIME, "1h", 1000, 2592000000) \
    X(policy_ratelimit_sender_action, ACTION, "tempfail", 0, 0) \
    X(policy_ratelimit_sasl_limit, INT, "0", 0, 100000000) \
    X(policy_ratelimit_sasl_window, TIME, "1h", 1000, 2592000000) \
    X(policy_ratelimit_sasl_action, ACTION, "tempfail", 0, 0) \
    X(policy_ratelimit_recipient_limit, INT, "0", 0, 100000000) \
    X(policy_ratelimit_recipient_window, TIME, "1h", 1000, 2592000000) \
    X(policy_ratelimit_recipient_action, ACTION, "tempfail", 0, 0) \
    X(policy_ratelimit_max_entries, INT, "100000", 100, 100000000) \
    X(policy_ratelimit_redis, STR, "", 0, 0) \
    X(policy_ratelimit_redis_prefix, STR, "rampart:rl:", 0, 0) \
    X(policy_ratelimit_redis_timeout, TIME, "1s", 10, 60000) \
    X(policy_ratelimit_redis_down_action, TEMPACTION, "accept", 0, 0)

#endif
