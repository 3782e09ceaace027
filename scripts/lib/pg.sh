# shellcheck shell=bash
# Private PostgreSQL clusters for development and tests (sourced, not executed).
#
#   pg_start NAME PORT [DATABASE...]  start (creating if needed) the cluster NAME on 127.0.0.1:PORT,
#                                     create the DATABASEs if missing, export PG_URL_BASE
#   pg_stop NAME                      stop the cluster NAME (fast mode) if it is running
#   pg_installed                      succeed if PostgreSQL server binaries can be found (sets PG_BIN)
#
# Clusters live in $REPO/.debrief-local/NAME (log: $REPO/.debrief-local/NAME.log), listen on 127.0.0.1 TCP
# only (no unix sockets), trust loopback connections and have the superuser role `debrief`.
# After pg_start: PG_URL_BASE=postgres://debrief@127.0.0.1:PORT, PG_PORT, PG_DATA_DIR, PG_LOG_FILE, PG_BIN,
# and PG_STARTED (1 if this call started the server, 0 if it found it already running).
# Knobs: DEBRIEF_PG_FAST=1 turns durability off (for throwaway test clusters); PG_START_TIMEOUT (seconds, 60).

PG_REPO_DIR="${PG_REPO_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}"
PG_ROLE=debrief

_pg_log() { printf 'pg: %s\n' "$*" >&2; }
_pg_err() { printf 'pg: error: %s\n' "$*" >&2; }
_pg_is_root() { [[ "$(id -u)" == 0 ]]; }

# Server-side commands (initdb, pg_ctl) run as the cluster owner because PostgreSQL refuses to run as root.
# cd / so the postgres user does not start in a directory it cannot read.
_pg_as_owner() {
	if _pg_is_root; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Sets PG_BIN to a directory holding initdb and pg_ctl, preferring major version $1 when given.
_pg_find_bin() {
	local want="${1:-}" dir
	if [[ -n "$want" && -x "/usr/lib/postgresql/$want/bin/initdb" ]]; then
		PG_BIN="/usr/lib/postgresql/$want/bin"
		return 0
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dir="$(dirname "$(readlink -f "$(command -v initdb)")")"
		if [[ -x "$dir/pg_ctl" ]]; then
			PG_BIN="$dir"
			return 0
		fi
	fi
	dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)"
	[[ -n "$dir" ]] || return 1
	PG_BIN="$(dirname "$dir")"
}

pg_installed() { _pg_find_bin; }

# Major version of the binaries in PG_BIN ("pg_ctl (PostgreSQL) 15.14 (Debian ...)" -> 15).
_pg_bin_major() {
	local v
	v="$("$PG_BIN/pg_ctl" --version | awk '{print $3}')"
	printf '%s\n' "${v%%[!0-9]*}"
}

_pg_install() {
	local sudo=()
	if ! command -v apt-get >/dev/null 2>&1; then
		_pg_err "PostgreSQL server binaries (initdb, pg_ctl) not found and apt-get is unavailable; install PostgreSQL 15+ and re-run"
		return 1
	fi
	if ! _pg_is_root; then
		if ! command -v sudo >/dev/null 2>&1; then
			_pg_err "PostgreSQL not found and not running as root (no sudo); run as root: apt-get install postgresql"
			return 1
		fi
		sudo=(sudo)
	fi
	_pg_log "PostgreSQL not found; installing Debian's postgresql package"
	if ! { "${sudo[@]}" apt-get update &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql </dev/null; }; then
		_pg_err "installing postgresql failed"
		return 1
	fi
}

_pg_check_name() {
	[[ "$1" =~ ^[A-Za-z0-9_-]+$ ]] && return 0
	_pg_err "cluster name must match [A-Za-z0-9_-]+, got '$1'"
	return 1
}

_pg_check_port() {
	[[ "$1" =~ ^[0-9]{4,5}$ ]] && ((10#$1 >= 1024 && 10#$1 <= 65535)) && return 0
	_pg_err "port must be a number in 1024-65535, got '$1'"
	return 1
}

# Sets PG_DATA_DIR, PG_LOG_FILE and PG_FALLBACK for cluster $1. As root the server runs as `postgres`, which
# must be able to reach the directory; if it cannot (repo under /root, or a 0700 .debrief-local) the cluster
# goes to a directory in /tmp that is stable for this repo path.
_pg_locate() {
	local name="$1" local_dir="$PG_REPO_DIR/.debrief-local" hash
	PG_DATA_DIR="$local_dir/$name"
	PG_LOG_FILE="$local_dir/$name.log"
	PG_FALLBACK=0
	if _pg_is_root && ! (cd / && runuser -u postgres -- test -x "$local_dir") 2>/dev/null; then
		hash="$(printf '%s' "$PG_REPO_DIR" | sha256sum | cut -c1-12)"
		PG_DATA_DIR="/tmp/debrief-pg-$hash-$name"
		PG_LOG_FILE="$PG_DATA_DIR.log"
		PG_FALLBACK=1
	fi
}

# Prints the PID of the server that owns PG_DATA_DIR, or nothing. A postmaster.pid whose PID is dead or now
# belongs to another process (usual after a container or machine restart) is stale and is removed.
_pg_running_pid() {
	local pidfile="$PG_DATA_DIR/postmaster.pid" pid cwd
	[[ -f "$pidfile" ]] || return 0
	pid="$(head -n 1 "$pidfile" 2>/dev/null || true)"
	if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		if [[ -d "/proc/$pid" ]]; then
			# The postmaster's working directory is its data directory.
			cwd="$(readlink -f "/proc/$pid/cwd" 2>/dev/null || true)"
			if [[ -n "$cwd" && "$cwd" == "$(readlink -f "$PG_DATA_DIR")" ]]; then
				printf '%s\n' "$pid"
				return 0
			fi
		elif _pg_as_owner "$PG_BIN/pg_ctl" status -D "$PG_DATA_DIR" >/dev/null 2>&1; then
			printf '%s\n' "$pid"
			return 0
		fi
	fi
	_pg_log "removing stale postmaster.pid (PID ${pid:-?} is not this cluster's server)"
	rm -f "$pidfile"
}

_pg_prepare_dirs() {
	if [[ "$PG_FALLBACK" == 1 ]]; then
		_pg_log "the postgres user cannot reach $PG_REPO_DIR/.debrief-local; using $PG_DATA_DIR instead"
		if [[ -e "$PG_DATA_DIR" || -L "$PG_DATA_DIR" ]] &&
			! [[ -d "$PG_DATA_DIR" && ! -L "$PG_DATA_DIR" && "$(stat -c %U "$PG_DATA_DIR")" == postgres ]]; then
			_pg_err "$PG_DATA_DIR exists but is not a directory owned by postgres; remove it and re-run"
			return 1
		fi
	fi
	mkdir -p "$PG_DATA_DIR"
	chmod 0700 "$PG_DATA_DIR"
	touch "$PG_LOG_FILE"
	if _pg_is_root; then
		chown postgres: "$PG_DATA_DIR" "$PG_LOG_FILE"
	fi
}

_pg_initdb() {
	if [[ -n "$(ls -A "$PG_DATA_DIR")" ]]; then
		# Files without PG_VERSION are what an interrupted initdb leaves; nothing in them is worth keeping.
		_pg_log "$PG_DATA_DIR holds an incomplete cluster; recreating it"
		find "$PG_DATA_DIR" -mindepth 1 -delete
	fi
	_pg_log "creating cluster in $PG_DATA_DIR"
	if ! _pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA_DIR" -U "$PG_ROLE" --auth=trust -E UTF8 --locale=C \
		>>"$PG_LOG_FILE" 2>&1; then
		tail -n 30 "$PG_LOG_FILE" >&2
		_pg_err "initdb failed (log: $PG_LOG_FILE)"
		return 1
	fi
	cat >"$PG_DATA_DIR/pg_hba.conf" <<'EOF'
# Written by scripts/lib/pg.sh. The server listens on 127.0.0.1 only; trust is limited to loopback.
local   all             all                     trust
host    all             all     127.0.0.1/32    trust
host    all             all     ::1/128         trust
local   replication     all                     trust
host    replication     all     127.0.0.1/32    trust
EOF
	printf "\ninclude_if_exists = 'debrief.conf'\n" >>"$PG_DATA_DIR/postgresql.conf"
	if _pg_is_root; then chown postgres: "$PG_DATA_DIR/pg_hba.conf"; fi
}

# Rewritten before every start so port and knobs follow the current call.
_pg_write_conf() {
	local port="$1"
	{
		echo "# Written by scripts/lib/pg.sh before every start; edits are overwritten."
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		# No unix sockets: a socket path under a deep checkout exceeds the kernel's length limit.
		echo "unix_socket_directories = ''"
		# sqlx::test opens a pool per test, and test binaries run tests in parallel.
		echo "max_connections = 200"
		if [[ "${DEBRIEF_PG_FAST:-0}" == 1 ]]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "full_page_writes = off"
		fi
	} >"$PG_DATA_DIR/debrief.conf"
	if _pg_is_root; then chown postgres: "$PG_DATA_DIR/debrief.conf"; fi
}

_pg_wait_ready() {
	local port="$1" timeout="${PG_START_TIMEOUT:-60}" tries=0
	until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_ROLE" -d postgres; do
		if ((tries >= timeout * 5)); then
			_pg_err "server on 127.0.0.1:$port not ready after ${timeout}s; last lines of $PG_LOG_FILE:"
			tail -n 40 "$PG_LOG_FILE" >&2
			return 1
		fi
		sleep 0.2
		tries=$((tries + 1))
	done
}

_pg_create_databases() {
	local port="$1" db exists
	shift
	for db in "$@"; do
		if ! exists="$("$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$port" -U "$PG_ROLE" -d postgres \
			-v ON_ERROR_STOP=1 -v db="$db" <<<"select 1 from pg_database where datname = :'db'")"; then
			_pg_err "could not list databases on 127.0.0.1:$port"
			return 1
		fi
		if [[ "$exists" != 1 ]]; then
			_pg_log "creating database $db"
			if ! "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$PG_ROLE" "$db"; then
				_pg_err "createdb $db failed"
				return 1
			fi
		fi
	done
}

pg_start() {
	if (($# < 2)); then
		_pg_err "usage: pg_start NAME PORT [DATABASE...]"
		return 1
	fi
	local name="$1" port="$2" pid running_port version ready_rc
	shift 2
	_pg_check_name "$name" || return 1
	_pg_check_port "$port" || return 1

	if ! _pg_find_bin; then
		_pg_install || return 1
		if ! _pg_find_bin; then
			_pg_err "PostgreSQL server binaries still not found after installing postgresql"
			return 1
		fi
	fi
	if _pg_is_root && ! id postgres >/dev/null 2>&1; then
		_pg_err "as root the cluster must run as the 'postgres' system user (created by Debian's postgresql package), which does not exist"
		return 1
	fi

	mkdir -p "$PG_REPO_DIR/.debrief-local"
	_pg_locate "$name"
	_pg_prepare_dirs || return 1

	if [[ -f "$PG_DATA_DIR/PG_VERSION" ]]; then
		# A cluster only starts under the major version that created it.
		version="$(cat "$PG_DATA_DIR/PG_VERSION")"
		_pg_find_bin "$version" || true
		if [[ "$(_pg_bin_major)" != "$version" ]]; then
			_pg_err "$PG_DATA_DIR was created by PostgreSQL $version but $PG_BIN is version $(_pg_bin_major); delete the directory to recreate the cluster"
			return 1
		fi
	else
		_pg_initdb || return 1
	fi

	PG_STARTED=0
	pid="$(_pg_running_pid)"
	if [[ -n "$pid" ]]; then
		running_port="$(sed -n 4p "$PG_DATA_DIR/postmaster.pid" 2>/dev/null || true)"
		if [[ "$running_port" == "$port" ]]; then
			_pg_log "reusing running cluster $name (PID $pid) on 127.0.0.1:$port"
		else
			_pg_log "cluster $name is running on port ${running_port:-?}; restarting it on $port"
			if ! _pg_as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DATA_DIR" -m fast -w >>"$PG_LOG_FILE" 2>&1; then
				_pg_err "could not stop cluster $name (log: $PG_LOG_FILE)"
				return 1
			fi
			pid=""
		fi
	fi
	if [[ -z "$pid" ]]; then
		ready_rc=0
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" || ready_rc=$?
		if ((ready_rc <= 1)); then
			_pg_err "another server already listens on 127.0.0.1:$port; stop it or choose another port"
			return 1
		fi
		_pg_write_conf "$port"
		_pg_log "starting cluster $name on 127.0.0.1:$port (log: $PG_LOG_FILE)"
		if ! _pg_as_owner "$PG_BIN/pg_ctl" start -D "$PG_DATA_DIR" -l "$PG_LOG_FILE" -w \
			-t "${PG_START_TIMEOUT:-60}" >/dev/null; then
			_pg_err "pg_ctl start failed; last lines of $PG_LOG_FILE:"
			tail -n 40 "$PG_LOG_FILE" >&2
			return 1
		fi
		PG_STARTED=1
	fi
	_pg_wait_ready "$port" || return 1
	_pg_create_databases "$port" "$@" || return 1

	export PG_URL_BASE="postgres://$PG_ROLE@127.0.0.1:$port"
	export PG_PORT="$port" PG_DATA_DIR PG_LOG_FILE PG_BIN PG_STARTED
}

pg_stop() {
	if (($# != 1)); then
		_pg_err "usage: pg_stop NAME"
		return 1
	fi
	local name="$1" pid
	_pg_check_name "$name" || return 1
	_pg_find_bin || return 0
	_pg_locate "$name"
	[[ -f "$PG_DATA_DIR/PG_VERSION" ]] || return 0
	_pg_find_bin "$(cat "$PG_DATA_DIR/PG_VERSION")" || true
	pid="$(_pg_running_pid)"
	[[ -n "$pid" ]] || return 0
	_pg_log "stopping cluster $name"
	if ! _pg_as_owner "$PG_BIN/pg_ctl" stop -D "$PG_DATA_DIR" -m fast -w >>"$PG_LOG_FILE" 2>&1; then
		_pg_err "could not stop cluster $name (log: $PG_LOG_FILE)"
		return 1
	fi
}
