#!/usr/bin/env bash
# What `podman kube play` needs beyond the image tests' tools (tests/images/provision.sh):
# catatonit, from which podman builds its pause image locally (no registry). Idempotent.
# Exit codes as provision.sh: 0 ready, 3 impossible here (reason on stderr).
set -euo pipefail
if command -v catatonit >/dev/null 2>&1 || [ -x /usr/libexec/podman/catatonit ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
  echo "cannot install catatonit (needs root and apt-get): apt-get install -y catatonit" >&2
  exit 3
fi
echo "[provision] installing catatonit" >&2
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -q -o DPkg::Lock::Timeout=600)
if ! "${apt[@]}" install -y --no-install-recommends catatonit >&2; then
  "${apt[@]}" update >&2
  "${apt[@]}" install -y --no-install-recommends catatonit >&2
fi
