#!/usr/bin/env bash
# Refreshes the Apache ECharts build that the web pages embed, from npm.
set -euo pipefail
version=${1:-6.1.0}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "echarts@$version" >/dev/null && tar xzf "echarts-$version.tgz")
cp "$tmp/package/dist/echarts.min.js" internal/web/assets/vendor/echarts.min.js
cp "$tmp/package/LICENSE" internal/web/assets/vendor/ECHARTS-LICENSE
cp "$tmp/package/NOTICE" internal/web/assets/vendor/ECHARTS-NOTICE
echo "echarts $version" > internal/web/assets/vendor/ECHARTS-VERSION
