#!/bin/bash
# creds, second half: ids split between real/effective/saved/fs with a
# second thread that keeps others, locked securebits, no_new_privs (see
# t_creds.sh).
CREDS_HALF=2
. "$(dirname "$0")/t_creds.sh"
