/*
 * config_policy.h - the policy service's parameters (see config_params.h
 * for the row format). Documented in man/rampart.conf.5 and
 * conf/rampart.conf like every other parameter.
 */
#ifndef RAMPART_CONFIG_POLICY_H
#define RAMPART_CONFIG_POLICY_H

#define CONFIG_PARAMS_POLICY(X)

#endif
