#!/usr/bin/env bash
# Builds ziggy_<version>_amd64.deb from the built binaries and the files in
# packaging/; run by the //packaging:deb genrule, one NAME=PATH per input:
#   build_deb.sh OUT.deb version=VERSION control=control.in ... ziggyd=BIN ...
# Binaries are stripped as dh_strip does; every file gets a fixed mtime so the
# same inputs give the same package.
set -euo pipefail

out=$1
shift
declare -A src
for arg in "$@"; do src[${arg%%=*}]=${arg#*=}; done

version=$(tr -d '[:space:]' <"${src[version]}")
root=$(mktemp -d "${TMPDIR:-/tmp}/ziggy-deb.XXXXXX")
trap 'rm -rf "$root"' EXIT

# Puts src[$1] at $root/$3 with mode $2.
put() {
  install -D -m "$2" "${src[$1]}" "$root/$3"
}

for binary in ziggyd ziggy-forwarder ziggyctl ziggyview; do
  put "$binary" 0755 "usr/bin/$binary"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$root/usr/bin/$binary"
done
for unit in ziggyd ziggy-forwarder; do
  put "$unit.service" 0644 "lib/systemd/system/$unit.service"
  put "$unit.flags" 0644 "etc/ziggy/$unit.flags"
done
put copyright 0644 usr/share/doc/ziggy/copyright
sed "s/@VERSION@/$version/" "${src[changelog]}" | gzip -9n \
  >"$root/usr/share/doc/ziggy/changelog.gz"
chmod 0644 "$root/usr/share/doc/ziggy/changelog.gz"
for script in postinst prerm postrm; do put "$script" 0755 "DEBIAN/$script"; done
put conffiles 0644 DEBIAN/conffiles
# md5sums of what is not a conffile (dpkg keeps those itself).
(cd "$root" && find usr lib -type f -printf '%p\0' | sort -z | xargs -0 md5sum) \
  >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

# Installed-Size: KiB of what is installed (dpkg-gencontrol's estimate).
# control.in lists Depends one per line; the field must be one line.
size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
grep -v '^#' "${src[control]}" |
  sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" |
  awk '/^[^ ]/ { if (NR > 1) print line; line = $0; field = $1; next }
       field == "Depends:" { sub(/^ +/, " "); line = line $0; next }
       { print line; line = $0 }
       END { print line }' >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"

find "$root" -type d -exec chmod 0755 {} +
epoch=$(date -d "$(sed -n 's/^ -- .*>  //p' "${src[changelog]}" | head -1)" +%s)
find "$root" -exec touch -h -d "@$epoch" {} +
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$out" \
  >/dev/null
