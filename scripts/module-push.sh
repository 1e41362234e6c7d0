#!/bin/sh
# Publishes a signed module package to an OCI registry, as the artifact
# `hardshell module add oci://REGISTRY/REPOSITORY:TAG` pulls: an OCI image
# manifest (image spec 1.1) with artifactType application/vnd.hardshell.module.v1,
# the empty config, and one layer of media type
# application/vnd.hardshell.module.layer.v1.tar holding the package file
# byte for byte. The layout is written here by hand and copied with skopeo,
# digests preserved; the manifest digest it prints is what to pin.
#
#   scripts/module-push.sh web-search.tar ghcr.io/example/web-search:1.0.0 [skopeo copy options]
#
# e.g. --dest-creds USER:PASSWORD, --dest-cert-dir DIR. Needs sha256sum and skopeo.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 PACKAGE.tar REGISTRY/REPOSITORY:TAG [skopeo copy options]" >&2
    exit 2
fi
package=$1
reference=$2
shift 2
# The tag is after the last ':' that follows the last '/' (a port is not a tag).
name=${reference##*/}
case $name in
    *:*) tag=${name##*:} ;;
    *) echo "$reference: name the tag to publish, REGISTRY/REPOSITORY:TAG" >&2; exit 2 ;;
esac
[ -f "$package" ] || { echo "$package: no such file" >&2; exit 2; }

layout=$(mktemp -d)
trap 'rm -rf "$layout"' EXIT
mkdir -p "$layout/blobs/sha256"

# Writes stdin as a blob; prints its hex digest.
blob() {
    cat > "$layout/blob.tmp"
    hex=$(sha256sum "$layout/blob.tmp" | cut -d' ' -f1)
    mv "$layout/blob.tmp" "$layout/blobs/sha256/$hex"
    echo "$hex"
}
size() { wc -c < "$layout/blobs/sha256/$1" | tr -d ' '; }

layer=$(blob < "$package")
config=$(printf '{}' | blob)
manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.hardshell.module.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:%s","size":2},"layers":[{"mediaType":"application/vnd.hardshell.module.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$layer" "$(size "$layer")" | blob)
printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$(size "$manifest")" "$tag" > "$layout/index.json"

skopeo copy --quiet --preserve-digests "$@" "oci:$layout:$tag" "docker://$reference"
echo "pushed oci://$reference@sha256:$manifest"
