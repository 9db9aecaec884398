# Sourced by scripts/test, scripts/demo and scripts/bench: a local AWS (moto in server mode)
# in the project's own virtualenv, on a free loopback port, stopped by its process id on exit.

MOTO_VERSION="5.2.5"
FANIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$FANIN_ROOT/.venv"

# Installs moto[server] (pinned) and boto3 into .venv unless that exact version is there.
moto_install() {
    if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        return 0
    fi
    echo "== installing moto[server]==$MOTO_VERSION into .venv" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
}

# Starts moto on a free port; sets MOTO_URL and MOTO_PID, and stops it when the shell exits.
moto_start() {
    local port log
    port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    log="${MOTO_LOG:-$(mktemp -t fanin-moto.XXXXXX.log)}"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    MOTO_PID=$!
    MOTO_URL="http://127.0.0.1:$port"
    trap moto_stop EXIT
    for _ in $(seq 1 100); do
        if curl -fsS "$MOTO_URL/moto-api/config" >/dev/null 2>&1; then
            # Lambda without Docker: Invoke answers without running code.
            curl -fsS -X POST -H 'Content-Type: application/json' \
                -d '{"lambda":{"use_docker":false}}' "$MOTO_URL/moto-api/config" >/dev/null
            echo "== moto $MOTO_VERSION at $MOTO_URL (pid $MOTO_PID, log $log)" >&2
            export MOTO_URL MOTO_PID
            return 0
        fi
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then
            echo "moto did not start; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "moto did not answer on $MOTO_URL within 10 s" >&2
    return 1
}

moto_stop() {
    if [ -n "${MOTO_PID:-}" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    MOTO_PID=""
}
