#!/bin/sh
# Fill the @@NAME@@ placeholders of asterisk/etc from the environment, then start Asterisk.
# A placeholder without a value stops the container: no default credential ever goes live.
#
# In the container the folders are /etc/asterisk-ivr (the product's files, read-only) and
# /etc/asterisk. On a host (the e2e suite, "Run it on a real Asterisk without docker" in the
# README) IVR_ETC_SRC / IVR_ETC_DST name them, and arguments replace the command:
#   IVR_ETC_SRC=asterisk/etc IVR_ETC_DST=/tmp/etc sh asterisk/entrypoint.sh true
#
# IVR_LINE_PROFILE=test adds the test profile (asterisk/etc/test: the test phones and the 3499 entry);
# production (the default) has none of it. Files holding secrets are written 0640 for the group
# Asterisk runs as (IVR_ASTERISK_GROUP, default asterisk, when it exists), the others 0644.
set -eu
src=${IVR_ETC_SRC:-/etc/asterisk-ivr}
dst=${IVR_ETC_DST:-/etc/asterisk}
profile=${IVR_LINE_PROFILE:-production}
group=${IVR_ASTERISK_GROUP:-asterisk}
case "$profile" in
  production|test) ;;
  *) echo "entrypoint: IVR_LINE_PROFILE must be production or test, not '$profile'" >&2; exit 1 ;;
esac

fill() {  # fill <source file> <destination file>
  cp "$1" "$2"
  for name in $(grep -o '@@[A-Z0-9_]*@@' "$1" | sort -u | tr -d '@'); do
    value=$(printenv "$name" || true)
    if [ -z "$value" ]; then
      echo "entrypoint: $name is not set (needed by $(basename "$1"))" >&2
      exit 1
    fi
    case "$value" in
      *"
"*) echo "entrypoint: $name holds a line break" >&2; exit 1 ;;
    esac
    case "$name" in  # addresses: only what an address or a network can hold (',' separates several)
      AMI_BIND_ADDRESS|AMI_PERMIT|SIP_LOCAL_NET|SIP_EXTERNAL_ADDRESS)
        case "$value" in
          *[!0-9A-Fa-f.:/,]*) echo "entrypoint: $name must be addresses (a.b.c.d or a.b.c.d/n, comma-separated), not '$value'" >&2; exit 1 ;;
        esac ;;
    esac
    # A value is written literally: ';' would start an Asterisk comment (written '\;'), and
    # '\', '&' and the '|' delimiter mean something to sed.
    escaped=$(printf '%s' "$value" | sed -e 's/[\\&|]/\\&/g' -e 's/;/\\\\;/g')
    sed -i "s|@@$name@@|$escaped|g" "$2"
  done
  # Credentials (passwords, the manager secret) are for Asterisk's eyes only.
  if grep -Eq '^[[:space:]]*(password|secret)[[:space:]]*=' "$2"; then
    if getent group "$group" >/dev/null 2>&1; then chgrp "$group" "$2"; fi
    chmod 0640 "$2"
  else
    chmod 0644 "$2"
  fi
}

mkdir -p "$dst"
for f in "$src"/*.conf; do
  fill "$f" "$dst/$(basename "$f")"
done
rm -rf "$dst/test"
if [ "$profile" = test ]; then
  mkdir -p "$dst/test"
  for f in "$src"/test/*.conf; do
    # The test manager account (a watcher reading every event) only when its secret is given.
    if [ "$(basename "$f")" = manager.conf ] && [ -z "${AMI_WATCH_SECRET:-}" ]; then continue; fi
    fill "$f" "$dst/test/$(basename "$f")"
  done
fi
# Where the IVR nodes are (extensions.conf [globals]): IVR_HOST, IVR_AGI_PORT, and for a second
# node IVR_HOST_2, IVR_AGI_PORT_2 (README "Several nodes"). Unset: the file's own values.
for name in IVR_HOST IVR_AGI_PORT IVR_HOST_2 IVR_AGI_PORT_2; do
  value=$(printenv "$name" || true)
  [ -n "$value" ] || continue
  case "$name" in
    *PORT*) allowed='0-9' ;;
    *) allowed='A-Za-z0-9.-' ;;
  esac
  # Only those characters (a line break or a '|' could add configuration), and not too long.
  case "$value" in
    *[!$allowed]*|-*) bad=yes ;;
    *) bad=$([ "${#value}" -le 253 ] || echo yes) ;;
  esac
  if [ -n "$bad" ]; then
    echo "entrypoint: $name must be a host name or address (a port: digits), not '$value'" >&2
    exit 1
  fi
  sed -i "s|^$name =.*|$name = $value|" "$dst/extensions.conf"
done
[ "$#" -gt 0 ] || set -- asterisk -f -vvv
exec "$@"
