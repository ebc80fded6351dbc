#!/bin/sh
# The Asterisk container's health: not "the process answers" but "the line can take a call":
# fully booted, every module modules.conf loads is running, a SIP transport is up, and the 34 00
# entry is in the dialplan. Prints what is wrong (docker inspect shows it).
set -eu
rx() { asterisk -rx "$1" 2>&1; }
booted=$(rx "core waitfullybooted")
case "$booted" in *"fully booted"*) ;; *) echo "not booted: $booted"; exit 1 ;; esac
running=$(rx "module show")
for module in $(sed -n 's/^load *=> *\([a-z0-9_]*\.so\).*/\1/p' /etc/asterisk/modules.conf); do
  echo "$running" | grep -q "^$module .*Running" || { echo "module not running: $module"; exit 1; }
done
rx "pjsip show transports" | grep -q "Transport:.*udp" || { echo "no SIP transport"; exit 1; }
rx "dialplan show 3400@from-trunk" | grep -q "'3400'" || { echo "no 3400 entry in [from-trunk]"; exit 1; }
