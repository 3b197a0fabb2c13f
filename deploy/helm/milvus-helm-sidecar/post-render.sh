#!/bin/sh
# Helm post-renderer: milvus-helm's rendered manifests on stdin, the same with the exporter
# sidecar, its ConfigMap and a PodMonitor on stdout.
#   Helm 3: helm install my milvus/milvus -f my-values.yaml --post-renderer ./post-render.sh
#   Helm 4: --post-renderer takes a postrenderer/v1 plugin name; wrap this script in one
#           (plugin.yaml: type postrenderer/v1, runtime subprocess, command: this script).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$dir/kustomization.yaml" "$dir/exporter-sidecar.yaml" "$dir/config.toml" "$dir/podmonitor.yaml" "$work/"
cat >"$work/milvus-helm.yaml"
kubectl kustomize "$work"
