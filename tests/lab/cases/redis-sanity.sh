#!/bin/bash
# Redis answers on 127.0.0.1:6379 inside the lab and keeps nothing on disk.
. "$LAB_SRC/lib/caselib.sh"

rcli() { redis-cli -h 127.0.0.1 -p 6379 "$@" 2>&1; }

expect_eq "PING" PONG "$(rcli PING)"
expect_eq "CONFIG GET save (no snapshots)" "" "$(rcli CONFIG GET save | sed -n 2p)"
expect_eq "CONFIG GET appendonly" no "$(rcli CONFIG GET appendonly | sed -n 2p)"
rcli SET lab:sanity 1 EX 10 >/dev/null
expect_eq "GET after SET" 1 "$(rcli GET lab:sanity)"
finish
