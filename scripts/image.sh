#!/usr/bin/env bash
# Builds the container image from this checkout's release binary, with `podman build` and no base
# image (README, "Container image"), then checks what it holds: the binary runs from the image's
# own files alone, as the non-root user, with the CA roots and /data writable by that user.
# usage: scripts/image.sh [TAG]   (default scim-bridge:<version>)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v podman >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/scim-bridge"
version=$("$bin" --version | awk '{print $2}')
tag=${1:-scim-bridge:$version}
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { apt-get update -qq && apt-get install -y -qq ca-certificates >/dev/null; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ctx="$work/context"; fs="$ctx/rootfs"
mkdir -p "$fs/usr/local/bin" "$fs/etc/ssl/certs" "$fs/tmp" "$ctx/data"
install -m 0755 "$bin" "$fs/usr/local/bin/scim-bridge"
# The libraries the binary links (and the loader), each at the path the binary looks for it.
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$fs$(dirname "$lib")"
  cp -L "$lib" "$fs$lib"
done
cp -L "$ca" "$fs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nscim-bridge:x:10001:10001:scim-bridge:/data:/sbin/nologin\n' >"$fs/etc/passwd"
printf 'root:x:0:\nscim-bridge:x:10001:\n' >"$fs/etc/group"
chmod 1777 "$fs/tmp"
cp "$root/Containerfile" "$ctx/Containerfile"
echo "== podman build $tag"
podman build --quiet --tag "$tag" --file "$ctx/Containerfile" "$ctx" >/dev/null

echo "== what the image holds"
user=$(podman image inspect --format '{{.Config.User}}' "$tag")
[ "$user" = "10001:10001" ] || { echo "the image runs as '$user', not 10001:10001"; exit 1; }
podman image inspect --format '{{json .Config.Volumes}}' "$tag" | grep -q '"/data"' || { echo "no /data volume"; exit 1; }
# The image's files, unpacked: `podman run` may be refused by the host's limits, so the binary is
# run from them with chroot (the image's own loader and libraries, nothing of the host's).
podman save --quiet --format oci-archive --output "$work/image.tar" "$tag"
mkdir "$work/oci" "$work/fs"
tar -xf "$work/image.tar" -C "$work/oci"
for layer in $(python3 -c '
import json, sys
index = json.load(open(sys.argv[1] + "/index.json"))
digest = index["manifests"][0]["digest"].split(":")[1]
manifest = json.load(open(sys.argv[1] + "/blobs/sha256/" + digest))
print(" ".join(l["digest"].split(":")[1] for l in manifest["layers"]))' "$work/oci"); do
  tar -xf "$work/oci/blobs/sha256/$layer" -C "$work/fs" --numeric-owner
done
for path in usr/local/bin/scim-bridge etc/ssl/certs/ca-certificates.crt etc/passwd data tmp; do
  [ -e "$work/fs/$path" ] || { echo "the image lacks /$path"; exit 1; }
done
owner=$(stat -c '%u:%g' "$work/fs/data")
[ "$owner" = "10001:10001" ] || { echo "/data belongs to $owner, not the image's user"; exit 1; }
if [ "$(id -u)" = 0 ]; then
  in_image() { env -i SCIM_BRIDGE__DATABASE__URL=sqlite:///data/scim-bridge.db "$(command -v chroot)" --userspec=10001:10001 "$work/fs" /usr/local/bin/scim-bridge "$@"; }
  ran=$(in_image --version)
  in_image init >/dev/null 2>&1 || { echo "init in the image's /data failed"; exit 1; }
  [ "$(stat -c '%u %a' "$work/fs/data/scim-bridge.db")" = "10001 600" ] || { echo "the database is not 10001's, mode 600"; exit 1; }
  echo "$ran runs from the image's files alone as 10001, and creates its database in /data (0600)"
else
  echo "not root: the image's binary is not run (chroot needs root)"
fi
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image $tag: $((size / 1024 / 1024)) MiB"
