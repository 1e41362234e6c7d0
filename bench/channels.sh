#!/usr/bin/env bash
# The chat channels' cost: a Telegram message answered end to end through
# crabline's Telegram emulator and `hardshell up` with a loopback model stub
# answering at once, against the same turn through the OpenAI API path of the
# same hardshell and against crabline answered by a bot that does nothing
# (the emulator's own floor). Prints p50/p99/mean per path, the difference,
# and messages per second with many senders at once. Never fails on a figure.
#
#   bash bench/channels.sh [TURNS] [MESSAGES] [SENDERS]   (default 400 300 10)
#
# Needs crabline and Node 24 under $INFRA/node (scripts/install.sh; INFRA
# defaults to .infra in the clone). Runs twice: with the scratch data and
# crabline's recorder under $TMPDIR (a disk, usually), where every
# acknowledged write is fsynced, then on tmpfs (/dev/shm), where fsyncs cost
# nothing. About three minutes after the build on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
export INFRA="${INFRA:-${HARDSHELL_INFRA:-$repo/.infra}}"
crabline="$INFRA/node/node_modules/@openclaw/crabline/dist/src/bin/crabline.js"
if [[ ! -f "$crabline" ]]; then
  echo "channels.sh: no crabline at $crabline: run scripts/install.sh (or set INFRA)" >&2
  exit 1
fi
cargo build --release --locked --quiet --bin hardshell --example channel_overhead
target="${CARGO_TARGET_DIR:-target}"
bench="$target/release/examples/channel_overhead"
"$bench" "$target/release/hardshell" "$@"
if [[ -d /dev/shm ]]; then
  echo
  TMPDIR=/dev/shm "$bench" "$target/release/hardshell" "$@"
fi
