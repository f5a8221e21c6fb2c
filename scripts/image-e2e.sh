#!/usr/bin/env bash
# The container image proof (issue 14): builds ./Dockerfile with buildah, then runs the image's
# root filesystem as the image says (its user, entrypoint, command, environment), mounted
# read-only with only /data and /tmp writable, in a network namespace of its own (so the
# image's 0.0.0.0:8080 is reachable from nowhere else). Tests/image/image_test.py drives it.
#
# No Docker engine, no registry and no Swift image here, so:
# - the runtime base (the Dockerfile's RUNTIME_IMAGE, debian:bookworm-slim) is made with
#   debootstrap once and cached in ~/.cache/parley/image;
# - the `build` stage is replaced by a named build context holding the same /staging/app that
#   stage produces, from a static release build on the host (cached in ~/.cache/parley/release-build).
# The Dockerfile's text is the one users build; only those two inputs differ.
#
#   scripts/image-e2e.sh                 # build, run, check
#   KEEP_IMAGE=1 scripts/image-e2e.sh    # keep localhost/parley:e2e in the cache's storage
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="${PARLEY_CACHE:-$HOME/.cache/parley}"
image_cache="$cache/image"
storage=(--root "$image_cache/storage" --runroot "$image_cache/run" --storage-driver vfs)
base=localhost/debian:bookworm-slim-debootstrap
mkdir -p "$image_cache"
[ "$(id -u)" -eq 0 ] || { echo "image-e2e: needs root (buildah mount, chroot, namespaces)" >&2; exit 1; }

# 1. The runtime base: Debian bookworm, minbase, slimmed like the official -slim images.
if ! buildah "${storage[@]}" inspect --type image "$base" >/dev/null 2>&1; then
  tarball="$image_cache/debian-bookworm-slim.tar"
  if [ ! -s "$tarball" ]; then
    rootfs=$(mktemp -d "$image_cache/rootfs.XXXXXX")
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$image_cache/debootstrap.log" 2>&1 ||
      { tail -n 20 "$image_cache/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
      "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
    chmod 0755 "$rootfs"   # mktemp made it 0700: the image's / must be traversable by every user
    tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
  fi
  podman "${storage[@]}" import --quiet "$tarball" "$base" >/dev/null
fi

# 2. The static release binary and what the build stage stages next to it.
if [ -z "${PARLEY_RELEASE_BIN:-}" ]; then
  scratch="$cache/release-build"
  (cd "$root" && swift build -c release --static-swift-stdlib --product parley --scratch-path "$scratch" >"$image_cache/swift-build.log" 2>&1) ||
    { tail -n 30 "$image_cache/swift-build.log" >&2; exit 1; }
  PARLEY_RELEASE_BIN="$scratch/release/parley"
fi
bin_dir=$(dirname "$PARLEY_RELEASE_BIN")
WORK=$(mktemp -d)
ctr=
cleanup() {
  [ -n "$ctr" ] && { buildah "${storage[@]}" umount "$ctr" >/dev/null 2>&1; buildah "${storage[@]}" rm "$ctr" >/dev/null 2>&1; } || true
  [ -n "${KEEP_IMAGE:-}" ] || buildah "${storage[@]}" rmi -f localhost/parley:e2e >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/context/staging/app"
cp "$PARLEY_RELEASE_BIN" "$WORK/context/staging/app/parley"
cp -R "$bin_dir"/*.resources "$WORK/context/staging/app/"
cp "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")/libexec/swift/linux/swift-backtrace-static" "$WORK/context/staging/app/"
strip "$WORK/context/staging/app/parley"

# 3. The image, from the repository's Dockerfile (docker format: OCI images drop HEALTHCHECK).
buildah "${storage[@]}" bud --isolation chroot --format docker --pull=never --layers=false \
  --build-arg RUNTIME_IMAGE="$base" --build-context build="$WORK/context" \
  -t localhost/parley:e2e -f "$root/Dockerfile" "$root" >"$WORK/bud.log" 2>&1 ||
  { tail -n 30 "$WORK/bud.log" >&2; exit 1; }
buildah "${storage[@]}" inspect --type image localhost/parley:e2e >"$WORK/image.json"
podman "${storage[@]}" image inspect localhost/parley:e2e --format '{{.Size}}' >"$WORK/size"
podman "${storage[@]}" image inspect "$base" --format '{{.Size}}' >"$WORK/base-size"
ctr=$(buildah "${storage[@]}" from --pull=never localhost/parley:e2e)
rootfs=$(buildah "${storage[@]}" mount "$ctr")

# 4. Run it: a private mount and network namespace, the root read-only, /data and /tmp writable.
unshare --mount --net --propagation private -- \
  python3 "$root/Tests/image/image_test.py" --rootfs "$rootfs" --image-json "$WORK/image.json" --work "$WORK" \
  --size "$(cat "$WORK/size")" --base-size "$(cat "$WORK/base-size")"
