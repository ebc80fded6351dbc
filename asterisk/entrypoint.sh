#!/bin/sh
# Fill the @@NAME@@ placeholders of asterisk/etc from the environment, then start Asterisk.
# A placeholder without a value stops the container: no default credential ever goes live.
set -eu
src=/etc/asterisk-ivr
dst=/etc/asterisk
mkdir -p "$dst"
for f in "$src"/*.conf; do
  out="$dst/$(basename "$f")"
  cp "$f" "$out"
  for name in $(grep -o '@@[A-Z0-9_]*@@' "$f" | sort -u | tr -d '@'); do
    value=$(printenv "$name" || true)
    if [ -z "$value" ]; then
      echo "entrypoint: $name is not set (needed by $(basename "$f"))" >&2
      exit 1
    fi
    sed -i "s|@@$name@@|$value|g" "$out"
  done
done
exec asterisk -f -vvv
