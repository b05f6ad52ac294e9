# SPDX-License-Identifier: MIT
# Sourced by bench/amqp.sh and bench/tasks_amqp.sh (not run): starts a RabbitMQ of the benchmark's own, as the tests'
# fixture does — Debian's rabbitmq-server on free loopback ports, its own epmd, node name, data and logs under the
# caller's temp dir, user bench/bench — and stops it again. Each process it starts is in a process group of its own,
# and only those groups are signalled.
#
#   rabbitmq_start DIR NODE_PREFIX   sets rabbitmq_port, rabbitmq_url (amqp://bench:bench@127.0.0.1:PORT/%2F),
#                                    rabbitmq_pid, rabbitmq_epmd_pid; returns at once (the caller waits for the
#                                    broker with its own probe, since each benchmark has one)
#   rabbitmq_stop                    stops the broker and its epmd (idempotent)
#   rabbitmq_log_tail                the last lines of the server's output, for error messages

rabbitmq_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rabbitmq_start() {
    local dir=$1 prefix=$2 dist epmd_port
    rabbitmq_dir=$dir
    rabbitmq_port=$(rabbitmq_free_port); dist=$(rabbitmq_free_port); epmd_port=$(rabbitmq_free_port)
    cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$rabbitmq_port
loopback_users = none
default_user = bench
default_pass = bench
disk_free_limit.absolute = 1
vm_memory_high_watermark.relative = 0.95
CONF
    echo '[].' >"$dir/enabled_plugins"
    : >"$dir/rabbitmq-env.conf"
    ERL_EPMD_ADDRESS=127.0.0.1 setsid /usr/bin/epmd -port "$epmd_port" >"$dir/epmd.out" 2>&1 &
    rabbitmq_epmd_pid=$!
    disown "$rabbitmq_epmd_pid"
    HOME=$dir RABBITMQ_NODENAME=$prefix-$$@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT=$rabbitmq_port RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd_port ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf \
        RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf \
        RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config \
        setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/server.out" 2>&1 &
    rabbitmq_pid=$!
    rabbitmq_url="amqp://bench:bench@127.0.0.1:$rabbitmq_port/%2F"
}

rabbitmq_stop() {
    if [[ -n ${rabbitmq_pid:-} ]]; then
        kill -TERM -- "-$rabbitmq_pid" 2>/dev/null || true
        wait "$rabbitmq_pid" 2>/dev/null || true
        kill -KILL -- "-$rabbitmq_pid" 2>/dev/null || true
        rabbitmq_pid=""
    fi
    if [[ -n ${rabbitmq_epmd_pid:-} ]]; then
        kill -KILL -- "-$rabbitmq_epmd_pid" 2>/dev/null || true
        rabbitmq_epmd_pid=""
    fi
}

rabbitmq_log_tail() { tail -20 "$rabbitmq_dir/server.out" 2>/dev/null; }
