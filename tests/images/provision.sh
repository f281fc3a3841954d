#!/usr/bin/env bash
# Install what the image tests need, idempotently: podman, buildah and runc (the builder and
# the runtime that works on cgroup-v1 hosts), mmdebstrap (the offline Debian rootfs of the
# runtime base image) and docker-registry (a loopback registry to push to). With --docker,
# also Debian's Docker engine (dockerd), which the Docker-builder test starts by itself.
#
# Exit codes: 0 = everything is there; 3 = it cannot be installed here (not root, no apt-get):
# the caller skips with the reason printed on stderr; anything else = the install failed.
set -euo pipefail

declare -A NEED=(
  [podman]=podman
  [buildah]=buildah
  [runc]=runc
  [mmdebstrap]=mmdebstrap
  [docker-registry]=docker-registry
)
if [ "${1:-}" = "--docker" ]; then
  NEED[dockerd]=docker.io
fi

missing=()
for tool in "${!NEED[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${NEED[$tool]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
IFS=$'\n' missing=($(sort <<<"${missing[*]}")); unset IFS

if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install ${missing[*]}: this machine has no apt-get; install them by hand" >&2
  exit 3
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "cannot install ${missing[*]}: apt-get needs root; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 3
fi

echo "[provision] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Other jobs on the machine may be running apt too: wait for the dpkg lock instead of failing.
apt=(apt-get -q -o DPkg::Lock::Timeout=600)
# A fresh machine may have no or stale package lists; refresh them once, then install.
if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2; then
  "${apt[@]}" update >&2
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2
fi
