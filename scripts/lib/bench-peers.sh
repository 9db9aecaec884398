# Sourced by scripts/bench: the peers the throughput benchmark runs beside fanin, each at a pinned
# version: a boto3 consumer in the project's .venv, and an sqs-consumer (Node.js) one when node is
# there. Exports the command line of each, which benches/throughput.rs splits on whitespace.

BENCH_BOTO3_VERSION="1.44.8"
BENCH_PEERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../benches/peers" && pwd)"
declare -F moto_install >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/moto.sh"

# Installs the peers' dependencies unless the pinned ones are there; sets FANIN_BENCH_BOTO3 and,
# when node is found, FANIN_BENCH_SQS_CONSUMER. A missing node only skips that peer.
bench_peers_install() {
    moto_install || return 1
    # boto3 and botocore share their version number: both pinned, so the SQS protocol (JSON) is too.
    if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('boto3') != '$BENCH_BOTO3_VERSION' or m.version('botocore') != '$BENCH_BOTO3_VERSION')" 2>/dev/null; then
        echo "== installing boto3==$BENCH_BOTO3_VERSION into .venv" >&2
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "boto3==$BENCH_BOTO3_VERSION" "botocore==$BENCH_BOTO3_VERSION" >&2 || return 1
    fi
    export FANIN_BENCH_BOTO3="$VENV/bin/python $BENCH_PEERS_DIR/boto3_consumer.py"

    unset FANIN_BENCH_SQS_CONSUMER
    local node dir="$BENCH_PEERS_DIR/sqs-consumer" major
    node="$(command -v node || true)"
    if [ -z "$node" ] || ! command -v npm >/dev/null; then
        echo "== node not found: the sqs-consumer row is skipped" >&2
        return 0
    fi
    major="$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if [ "$major" -lt 20 ] 2>/dev/null; then
        echo "== node $("$node" --version) is older than 20: the sqs-consumer row is skipped" >&2
        return 0
    fi
    # node_modules/.fanin-lock is the package-lock.json it was installed from.
    if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.fanin-lock"; then
        echo "== installing sqs-consumer's packages (npm ci) into benches/peers/sqs-consumer" >&2
        if ! (cd "$dir" && npm ci --silent --no-audit --no-fund >&2); then
            echo "== npm ci failed: the sqs-consumer row is skipped" >&2
            return 0
        fi
        cp "$dir/package-lock.json" "$dir/node_modules/.fanin-lock"
    fi
    export FANIN_BENCH_SQS_CONSUMER="$node $dir/consumer.mjs"
}
