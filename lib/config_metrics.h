/*
 * config_metrics.h - the metrics listener's parameters (see
 * config_params.h for the row format). Documented in man/rampart.conf.5
 * and conf/rampart.conf like every other parameter.
 */
#ifndef RAMPART_CONFIG_METRICS_H
#define RAMPART_CONFIG_METRICS_H

#define CONFIG_PARAMS_METRICS(X) \
    X(metrics_listen, LISTEN, "", 0, 0) \
    X(metrics_allow, NETS, "", 0, 0)

#endif
