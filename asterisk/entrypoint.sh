#!/bin/sh
# Fill the @@NAME@@ placeholders of asterisk/etc from the environment, then start Asterisk.
# A placeholder without a value stops the container: no default credential ever goes live.
#
# In the container the folders are /etc/asterisk-ivr (the product's files, read-only) and
# /etc/asterisk. On a host (the e2e suite, "Run it on a real Asterisk without docker" in the
# README) IVR_ETC_SRC / IVR_ETC_DST name them, and arguments replace the command:
#   IVR_ETC_SRC=asterisk/etc IVR_ETC_DST=/tmp/etc sh asterisk/entrypoint.sh true
set -eu
src=${IVR_ETC_SRC:-/etc/asterisk-ivr}
dst=${IVR_ETC_DST:-/etc/asterisk}
mkdir -p "$dst"
for f in "$src"/*.conf; do
  out="$dst/$(basename "$f")"
  cp "$f" "$out"
  chmod 0644 "$out"
  for name in $(grep -o '@@[A-Z0-9_]*@@' "$f" | sort -u | tr -d '@'); do
    value=$(printenv "$name" || true)
    if [ -z "$value" ]; then
      echo "entrypoint: $name is not set (needed by $(basename "$f"))" >&2
      exit 1
    fi
    case "$value" in
      *"
"*) echo "entrypoint: $name holds a line break" >&2; exit 1 ;;
    esac
    # A value is written literally: ';' would start an Asterisk comment (written '\;'), and
    # '\', '&' and the '|' delimiter mean something to sed.
    escaped=$(printf '%s' "$value" | sed -e 's/[\\&|]/\\&/g' -e 's/;/\\\\;/g')
    sed -i "s|@@$name@@|$escaped|g" "$out"
  done
done
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
