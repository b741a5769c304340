#!/usr/bin/env bash
# with-clickhouse.sh: run a command next to a throwaway ClickHouse server.
#
#   internal/chtest/with-clickhouse.sh go test -race -count=1 ./...
#
# It installs Debian's clickhouse-server and clickhouse-client when they are
# missing (apt-get; sudo only when not root), starts the server on free
# loopback ports with a temporary data directory (no systemd), waits until it
# answers, exports VIGIL_TEST_CLICKHOUSE=clickhouse://127.0.0.1:PORT/default
# and CLICKHOUSE_SERVER_BIN, runs the command, stops the server, removes the
# directory and exits with the command's exit code.
#
# With no command it prints the export line and keeps the server running
# until interrupted (handy for a shell: eval "$(... &)" is not needed, copy
# the line).
set -euo pipefail

log() { echo "with-clickhouse: $*" >&2; }

install_clickhouse() {
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { log "need root or sudo to install clickhouse-server"; exit 1; }
		sudo=(sudo)
	fi
	log "installing clickhouse-server and clickhouse-client with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq >&2
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends clickhouse-server clickhouse-client >&2
}

find_server() {
	local c
	for c in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
		if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return; fi
	done
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	log "no free port found"
	exit 1
}

server=$(find_server || true)
if [ -z "$server" ] || ! command -v clickhouse-client >/dev/null 2>&1; then
	install_clickhouse
	server=$(find_server)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/vigil-ch.XXXXXX")
tcp=$(free_port)
http=$(free_port)
while [ "$http" = "$tcp" ]; do http=$(free_port); done
mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"

cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/error.log</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$tcp</tcp_port>
    <http_port>$http</http_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <timezone>UTC</timezone>
</yandex>
EOF

cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF

"$server" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
pid=$!

stop() {
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

ready=
for _ in $(seq 1 600); do
	if ! kill -0 "$pid" 2>/dev/null; then
		log "clickhouse-server exited during startup:"
		tail -20 "$dir/log/error.log" "$dir/log/stdout.log" >&2 || true
		exit 1
	fi
	if clickhouse-client --host 127.0.0.1 --port "$tcp" --query 'SELECT 1' >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	log "clickhouse-server did not answer within 60s"
	exit 1
fi

export VIGIL_TEST_CLICKHOUSE="clickhouse://127.0.0.1:$tcp/default"
export CLICKHOUSE_SERVER_BIN="$server"
log "clickhouse $(clickhouse-client --host 127.0.0.1 --port "$tcp" --query 'SELECT version()') on 127.0.0.1:$tcp (data in $dir)"

if [ $# -eq 0 ]; then
	echo "export VIGIL_TEST_CLICKHOUSE=$VIGIL_TEST_CLICKHOUSE"
	log "running until interrupted"
	wait "$pid" || true
	exit 0
fi

set +e
"$@"
rc=$?
set -e
exit "$rc"
