#!/usr/bin/env bash
# The .deb that //:deb builds: its name and control fields, Depends (against
# what ldd shows), its exact contents and modes, stripped binaries, its units
# (systemd-analyze verify), its flag files (every line names a real flag,
# with its real default), its maintainer scripts (shellcheck; postinst with
# stubbed commands), lintian (no errors), the README's fleet section (this
# version, real flags), and the daemons run from the extracted package with
# the packaged flag files, answering `ziggyctl status` and exiting 0 on
# SIGTERM.
#   deb_test.sh ziggy_<version>_amd64.deb VERSION README.md
set -euo pipefail

deb=$1
version=$(tr -d '[:space:]' <"$2")
readme=$3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
root=$tmp/root
control=$tmp/DEBIAN
rm -rf "$root" "$control"
dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$control"
pids=()
kill_daemons() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap kill_daemons EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Fails unless "$1" (what was seen) equals "$2" (what was expected).
expect_eq() {
  [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"
}

check_name() {
  [[ "$(basename "$deb")" == "ziggy_${version}_amd64.deb" ]] ||
    fail "package file is $(basename "$deb"), not ziggy_${version}_amd64.deb"
}

check_fields() {
  expect_eq "$(dpkg-deb -f "$deb" Package)" ziggy Package
  expect_eq "$(dpkg-deb -f "$deb" Version)" "$version" Version
  expect_eq "$(dpkg-deb -f "$deb" Architecture)" amd64 Architecture
  expect_eq "$(dpkg-deb -f "$deb" Priority)" optional Priority
  [[ "$(dpkg-deb -f "$deb" Maintainer)" =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] ||
    fail "Maintainer is not 'Name <address>'"
  [[ "$(dpkg-deb -f "$deb" Section)" =~ ^[a-z]+$ ]] || fail "no Section"
  [[ "$(dpkg-deb -f "$deb" Installed-Size)" =~ ^[1-9][0-9]+$ ]] ||
    fail "no Installed-Size"
  [[ "$(dpkg-deb -f "$deb" Description | wc -l)" -ge 3 ]] ||
    fail "Description has no long description"
  expect_eq "$(cat "$control/conffiles")" \
    "$(printf '%s\n' /etc/ziggy/ziggyd.flags /etc/ziggy/ziggy-forwarder.flags)" \
    conffiles
}

# The package names in Depends, one a line.
depends_names() {
  dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/[[:space:]]//g' |
    grep -v '^$'
}

# The libraries ldd shows for the packaged binaries, one a line, without
# the sanitizer runtimes of `--config=asan`/`ubsan` builds (not shipped).
packaged_libraries() {
  local binary
  for binary in "$root"/usr/bin/*; do
    ! ldd "$binary" | grep -q 'not found' || fail "$binary: ldd: not found"
    ldd "$binary" | grep -o '/[^ ]*'
  done | sort -u | grep -vE '/lib(a|t|ub)san\.so'
}

# The names dpkg may know library $1 under: as ldd printed it, under /usr
# (Debian 12 is merged-/usr) and resolved.
library_paths() {
  printf '%s\n' "$1" "/usr$1" "$(readlink -f "$1")"
}

# The package owning library $1, from $2: `dpkg -S`'s answer for all
# libraries at once (one dpkg -S per library takes a minute).
library_owner() {
  local path
  for path in $(library_paths "$1"); do
    awk -F': ' -v path="$path" '$2 == path { print $1; exit }' <<<"$2" |
      cut -d: -f1 | grep . && return 0
  done
  fail "no package owns $1"
}

check_depends() {
  local depends libraries owners library owner
  depends=$(depends_names)
  grep -qx adduser <<<"$depends" || fail "Depends lacks adduser (postinst)"
  libraries=$(packaged_libraries)
  # shellcheck disable=SC2046  # one path a word
  owners=$(dpkg -S $(for library in $libraries; do library_paths "$library"; done) \
    2>/dev/null || true)
  for library in $libraries; do
    owner=$(library_owner "$library" "$owners")
    grep -qx "$owner" <<<"$depends" ||
      fail "the binaries need $library of $owner, not in Depends"
  done
}

check_contents() {
  local expected actual
  expected=$(
    for dir in ./ ./etc/ ./etc/ziggy/ ./lib/ ./lib/systemd/ ./lib/systemd/system/ \
      ./usr/ ./usr/bin/ ./usr/share/ ./usr/share/doc/ ./usr/share/doc/ziggy/; do
      echo "drwxr-xr-x root/root $dir"
    done
    for binary in ziggyd ziggy-forwarder ziggyctl ziggyview; do
      echo "-rwxr-xr-x root/root ./usr/bin/$binary"
    done
    for file in etc/ziggy/ziggyd.flags etc/ziggy/ziggy-forwarder.flags \
      lib/systemd/system/ziggyd.service lib/systemd/system/ziggy-forwarder.service \
      usr/share/doc/ziggy/copyright usr/share/doc/ziggy/changelog.gz; do
      echo "-rw-r--r-- root/root ./$file"
    done
  )
  actual=$(dpkg-deb --contents "$deb" | awk '{print $1, $2, $6}')
  expect_eq "$(sort <<<"$actual")" "$(sort <<<"$expected")" "contents"
  for binary in "$root"/usr/bin/*; do
    ! readelf -S "$binary" | grep -q '\.symtab' || fail "$binary not stripped"
  done
}

# Copies of the units whose ExecStart points into the extracted package
# (verify wants the binaries; `--root=` would want a whole system there);
# verify prints its complaints, even ignored ones, and then exits 0.
check_units() {
  local unit output
  mkdir -p "$tmp/units"
  for unit in ziggyd ziggy-forwarder; do
    sed "s#=/usr/bin/#=$root/usr/bin/#" "$root/lib/systemd/system/$unit.service" \
      >"$tmp/units/$unit.service"
    grep -qx "ExecStart=$root/usr/bin/$unit --flagfile=/etc/ziggy/$unit.flags" \
      "$tmp/units/$unit.service" || fail "$unit.service: unexpected ExecStart"
  done
  output=$(systemd-analyze verify "$tmp/units/ziggyd.service" \
    "$tmp/units/ziggy-forwarder.service" 2>&1) || fail "verify: $output"
  [[ -z "$output" ]] || fail "systemd-analyze verify: $output"
}

# gflags' --helpxml output of binary $1 given the arguments after it: one
# line per flag with its <default> and <current> value (nothing when an
# argument or a flag file line is wrong; --helpxml exits 1 either way).
helpxml() {
  local binary=$1
  shift
  "$root/usr/bin/$binary" "$@" --helpxml 2>/dev/null || true
}

# The value flag $2 has in helpxml output $1 (as <current>...</current>),
# after a check that the flag exists.
current_value() {
  grep -F "<name>${2//-/_}</name>" <<<"$1" | grep -oE '<current>[^<]*' ||
    fail "no flag --$2 (flag file not parsed?)"
}

# Every "#--flag=value" line of $1's flag file names one of its flags with
# that default, and every "--flag=..." line or "#   --flag=..." example
# names one of its flags (gflags would skip a line naming none in silence).
# Only commented, the storage lifecycle flags may be missing from a ziggyd
# that predates them.
check_flag_lines() {
  local binary=$1 xml line name value
  xml=$(helpxml "$binary")
  while IFS= read -r line; do
    name=${line#*--}
    value=${name#*=}
    name=${name%%=*}
    if ! grep -qF "<name>${name//-/_}</name>" <<<"$xml"; then
      [[ "$binary" == ziggyd && "$line" == "#--"* &&
        "$name" =~ ^(retain-days|compress-after-days|min-free-disk)$ ]] && continue
      fail "$binary.flags: no such flag --$name"
    fi
    [[ "$line" != "#--"* ]] ||
      grep -F "<name>${name//-/_}</name>" <<<"$xml" |
      grep -qF "<default>$value</default>" ||
      fail "$binary.flags: --$name's default is not '$value'"
  done < <(grep -E '^(# *)?--' "$root/etc/ziggy/$binary.flags")
}

# The packaged flag files parse, and set what the services need.
check_flag_files() {
  local etc=$root/etc/ziggy
  check_flag_lines ziggyd
  check_flag_lines ziggy-forwarder
  expect_eq "$(current_value "$(helpxml ziggyd --flagfile="$etc/ziggyd.flags")" \
    log-path)" "<current>/var/log/ziggy" "ziggyd.flags --log-path"
  expect_eq "$(current_value "$(helpxml ziggy-forwarder \
    --flagfile="$etc/ziggy-forwarder.flags")" spool-path)" \
    "<current>/var/lib/ziggy/spool" "ziggy-forwarder.flags --spool-path"
}

check_scripts() {
  local script
  for script in postinst prerm postrm; do
    [[ -x "$control/$script" ]] || fail "$script missing or not executable"
    head -1 "$control/$script" | grep -qx '#!/bin/sh' || fail "$script: not sh"
    grep -qx 'set -e' "$control/$script" || fail "$script: no set -e"
    shellcheck "$control/$script" || fail "shellcheck $script"
  done
}

# Runs maintainer script $2 with the arguments after it, with the commands it
# may call replaced by stubs that log their arguments to $tmp/calls;
# `getent` finds the ziggy user and group if $1 is "yes".
run_script() {
  local user_exists=$1 script=$2 stubs=$tmp/stubs command
  shift 2
  mkdir -p "$stubs"
  for command in getent addgroup adduser deluser delgroup systemctl \
    deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$command" "$tmp/calls" \
      >"$stubs/$command"
    chmod +x "$stubs/$command"
  done
  [[ "$user_exists" == yes ]] || echo 'exit 2' >>"$stubs/getent"
  : >"$tmp/calls"
  PATH="$stubs:$PATH" sh "$control/$script" "$@" || fail "$script $* failed"
}

# postinst configure makes the ziggy group and user (home /var/lib/ziggy)
# when missing and only then, and enables or starts no unit.
check_postinst() {
  run_script no postinst configure ""
  grep -qx 'addgroup --quiet --system ziggy' "$tmp/calls" ||
    fail "postinst made no ziggy group: $(cat "$tmp/calls")"
  grep -q '^adduser .*--system .*--ingroup ziggy .*--home /var/lib/ziggy .*ziggy$' \
    "$tmp/calls" || fail "postinst made no ziggy user: $(cat "$tmp/calls")"
  run_script yes postinst configure 0.15.0
  ! grep -qE '^add(user|group)' "$tmp/calls" ||
    fail "postinst remade an existing user: $(cat "$tmp/calls")"
  ! grep -qE ' (enable|start|restart) ' "$tmp/calls" ||
    fail "postinst enables or starts a unit: $(cat "$tmp/calls")"
}

# Warnings accepted (lintian 2.116):
# - no-manual-page: the binaries have --help and the README; no man pages yet.
check_lintian() {
  if ! command -v lintian >/dev/null; then
    echo "lintian not installed: skipped (tools/install-test-tools.sh installs it)"
    return 0
  fi
  local output
  output=$(HOME=$tmp lintian "$deb" 2>&1) || true
  if grep -E '^E: ' <<<"$output"; then fail "lintian errors (above)"; fi
  if grep -E '^W: ' <<<"$output" | grep -vE ': no-manual-page '; then
    fail "new lintian warnings (above): fix them or accept them here"
  fi
}

# Waits up to 30 s for $1 (a daemon's stderr) to name its control port and
# prints that port.
control_port() {
  local port
  for _ in $(seq 300); do
    port=$(grep -oE 'listening: control=tcp://127\.0\.0\.1:[0-9]+' "$1" |
      grep -oE '[0-9]+$' || true)
    [[ -n "$port" ]] && { echo "$port"; return 0; }
    sleep 0.1
  done
  cat "$1" >&2
  fail "no 'listening: control=' in $1 within 30 s"
}

# SIGTERM to pid $1 ends it with exit status 0.
stop_daemon() {
  kill -TERM "$1"
  local status=0
  wait "$1" || status=$?
  expect_eq "$status" 0 "exit status of $2 after SIGTERM"
}

# Starts daemon $1 from the extracted package with its packaged flag file,
# local ports on free ones and the flags after $1, logging to $tmp/$1.log;
# sets daemon_pid and daemon_port (its control port).
start_daemon() {
  local name=$1
  shift
  "$root/usr/bin/$name" --flagfile="$root/etc/ziggy/$name.flags" \
    --control=127.0.0.1:0 --collect=127.0.0.1:0 "$@" 2>"$tmp/$name.log" &
  daemon_pid=$!
  pids+=("$daemon_pid")
  daemon_port=$(control_port "$tmp/$name.log")
}

# What the packaged ziggyctl's `status` says of daemon $1 on control port $2.
status_of() {
  local status
  status=$("$root/usr/bin/ziggyctl" -H "127.0.0.1:$2" status) ||
    fail "ziggyctl status of $1"
  grep -q "^$1 on " <<<"$status" || fail "not $1: $status"
  echo "$status"
}

# ziggyd and the forwarder relaying to it, with the packaged flag files
# plus overrides that keep them inside TEST_TMPDIR on free ports.
check_daemons() {
  local ziggyd relay status
  start_daemon ziggyd --log-path="$tmp/logs" --relay=127.0.0.1:0
  ziggyd=$daemon_pid
  status=$(status_of ziggyd "$daemon_port")
  grep -qF "log path    $tmp/logs" <<<"$status" || fail "log path: $status"
  relay=$(grep -oE 'relay=tcp://127\.0\.0\.1:[0-9]+' "$tmp/ziggyd.log" |
    grep -oE '[0-9]+$')

  start_daemon ziggy-forwarder --spool-path="$tmp/spool" \
    --upstream="127.0.0.1:$relay"
  status=$(status_of ziggy-forwarder "$daemon_port")
  grep -qF "relay       to 127.0.0.1:$relay " <<<"$status" || fail "relay: $status"
  [[ -f "$tmp/spool/id" ]] || fail "no spool in $tmp/spool"
  stop_daemon "$daemon_pid" ziggy-forwarder
  stop_daemon "$ziggyd" ziggyd
}

# The README's "Installing on a fleet" names this version's package, and
# each flag file line it shows names a flag of ziggyd or the forwarder.
check_readme() {
  local section xml line name
  section=$(awk '/^## Installing on a fleet/ { on = 1; next } /^## / { on = 0 } on' \
    "$readme")
  [[ -n "$section" ]] || fail "README has no section \"Installing on a fleet\""
  ! grep -oE 'ziggy_[^ _]+_amd64\.deb' <<<"$section" |
    grep -vxF "ziggy_${version}_amd64.deb" || fail "README names another version"
  xml=$(helpxml ziggyd; helpxml ziggy-forwarder)
  while IFS= read -r line; do
    name=${line#--}
    name=${name%%=*}
    grep -qF "<name>${name//-/_}</name>" <<<"$xml" ||
      fail "README's flag file line $line names no flag"
  done < <(grep -E '^--[a-z-]+=' <<<"$section")
}

check_binaries_run() {
  local binary
  for binary in ziggyd ziggy-forwarder ziggyctl ziggyview; do
    expect_eq "$("$root/usr/bin/$binary" --version)" "$binary version $version" \
      "$binary --version"
  done
}

check_name
check_fields
check_depends
check_contents
check_units
check_binaries_run
check_flag_files
check_scripts
check_postinst
check_lintian
check_readme
check_daemons
echo "PASS"
