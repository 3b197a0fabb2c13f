{{/* Names ------------------------------------------------------------------------------- */}}
{{- define "milvus-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "milvus-exporter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "milvus-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "milvus-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "milvus-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "milvus-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "milvus-exporter.labels" -}}
helm.sh/chart: {{ include "milvus-exporter.chart" . }}
{{ include "milvus-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: milvus
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/* Labels of an operator object (ServiceMonitor, PodMonitor, PrometheusRule): the common
     labels, kube-prometheus-stack's `release` label when named, then the object's own labels
     (which win). Call with (dict "root" $ "labels" .Values.x.labels). */}}
{{- define "milvus-exporter.operatorLabels" -}}
{{- $labels := fromYaml (include "milvus-exporter.labels" .root) -}}
{{- with .root.Values.kubePrometheusStack.release -}}
{{- $_ := set $labels "release" . -}}
{{- end -}}
{{- $labels = mergeOverwrite $labels (.labels | default dict) -}}
{{- toYaml $labels -}}
{{- end -}}

{{- define "milvus-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "milvus-exporter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "milvus-exporter.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" $repo $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* Mount points. The README names them, for an existingConfig file to refer to. */}}
{{- define "milvus-exporter.configDir" -}}/etc/milvus-exporter{{- end -}}
{{- define "milvus-exporter.authDir" -}}/etc/milvus-exporter/auth{{- end -}}
{{- define "milvus-exporter.tlsDir" -}}/etc/milvus-exporter/tls{{- end -}}

{{- define "milvus-exporter.configName" -}}
{{- if .Values.existingConfig.name -}}
{{- .Values.existingConfig.name -}}
{{- else -}}
{{- include "milvus-exporter.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "milvus-exporter.configKey" -}}
{{- if .Values.existingConfig.name -}}
{{- .Values.existingConfig.key -}}
{{- else -}}
config.toml
{{- end -}}
{{- end -}}

{{/* The exporter configuration as a dict: .Values.config with the keys the chart owns filled in.
     Fails on a chart-owned key set in .Values.config, and on TLS without https://. */}}
{{- define "milvus-exporter.configDict" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $web := get $cfg "web" | default dict -}}
{{- $milvus := get $cfg "milvus" | default dict -}}
{{- if hasKey $web "listen_address" -}}
{{- fail "config.web.listen_address is set by the chart from containerPort; set containerPort instead" -}}
{{- end -}}
{{- range $k := list "address" "name" "username" "password" "password_file" "token" "token_file" "tls" -}}
{{- if hasKey $milvus $k -}}
{{- fail (printf "config.milvus.%s is set by the chart; use the milvus.* values (milvus.address, milvus.name, milvus.username, milvus.auth, milvus.tls) instead" $k) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.milvus.address -}}
{{- fail "milvus.address is required: the Milvus to watch, e.g. http://my-milvus.milvus.svc:19530 (or give the whole file with existingConfig.name)" -}}
{{- end -}}
{{- $_ := set $web "listen_address" (printf "0.0.0.0:%d" (int .Values.containerPort)) -}}
{{- $_ := set $milvus "address" .Values.milvus.address -}}
{{- with .Values.milvus.name -}}{{- $_ := set $milvus "name" . -}}{{- end -}}
{{- with .Values.milvus.username -}}{{- $_ := set $milvus "username" . -}}{{- end -}}
{{- if .Values.milvus.auth.existingSecret -}}
{{- if .Values.milvus.auth.tokenKey -}}
{{- $_ := set $milvus "token_file" (printf "%s/%s" (include "milvus-exporter.authDir" .) .Values.milvus.auth.tokenKey) -}}
{{- else -}}
{{- $_ := set $milvus "password_file" (printf "%s/%s" (include "milvus-exporter.authDir" .) .Values.milvus.auth.passwordKey) -}}
{{- end -}}
{{- end -}}
{{- if .Values.milvus.tls.enabled -}}
{{- if not (hasPrefix "https://" .Values.milvus.address) -}}
{{- fail (printf "milvus.tls.enabled needs an https:// milvus.address, not %q" .Values.milvus.address) -}}
{{- end -}}
{{- $tls := dict -}}
{{- if .Values.milvus.tls.existingSecret -}}
{{- with .Values.milvus.tls.caKey -}}{{- $_ := set $tls "ca_file" (printf "%s/%s" (include "milvus-exporter.tlsDir" $) .) -}}{{- end -}}
{{- if or .Values.milvus.tls.certKey .Values.milvus.tls.keyKey -}}
{{- if not (and .Values.milvus.tls.certKey .Values.milvus.tls.keyKey) -}}
{{- fail "milvus.tls.certKey and milvus.tls.keyKey go together (mutual TLS)" -}}
{{- end -}}
{{- $_ := set $tls "cert_file" (printf "%s/%s" (include "milvus-exporter.tlsDir" .) .Values.milvus.tls.certKey) -}}
{{- $_ := set $tls "key_file" (printf "%s/%s" (include "milvus-exporter.tlsDir" .) .Values.milvus.tls.keyKey) -}}
{{- end -}}
{{- else if or .Values.milvus.tls.certKey .Values.milvus.tls.keyKey -}}
{{- fail "milvus.tls.certKey/keyKey need milvus.tls.existingSecret" -}}
{{- end -}}
{{- with .Values.milvus.tls.serverName -}}{{- $_ := set $tls "server_name" . -}}{{- end -}}
{{- if $tls -}}{{- $_ := set $milvus "tls" $tls -}}{{- end -}}
{{- end -}}
{{- $_ := set $cfg "web" $web -}}
{{- $_ := set $cfg "milvus" $milvus -}}
{{- if not (get $cfg "targets") -}}{{- $_ := unset $cfg "targets" -}}{{- end -}}
{{- toJson $cfg -}}
{{- end -}}

{{/* TOML ---------------------------------------------------------------------------------
     Helm's toToml writes every number as a float (16 -> 16.0), which the exporter refuses
     for integer keys, so the configuration is written by these templates:
       scalars and lists of scalars as `key = value`, then tables as [a.b], lists of tables as
       [[a.b]]; keys sorted; null values left out; whole numbers without a fraction.
     Call "milvus-exporter.toml.table" with (dict "path" "" "map" $dict). */}}
{{- define "milvus-exporter.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{- define "milvus-exporter.toml.scalar" -}}
{{- if kindIs "string" . -}}
{{- toJson . -}}
{{- else if kindIs "bool" . -}}
{{- . -}}
{{- else if or (kindIs "float64" .) (kindIs "float32" .) -}}
{{- if eq (float64 .) (floor .) -}}{{- printf "%d" (int64 .) -}}{{- else -}}{{- printf "%v" . -}}{{- end -}}
{{- else if or (kindIs "int" .) (kindIs "int64" .) (kindIs "int32" .) -}}
{{- printf "%d" . -}}
{{- else if kindIs "map" . -}}
{{- $parts := list -}}
{{- range $k := keys . | sortAlpha -}}
{{- $v := get $ $k -}}
{{- if not (kindIs "invalid" $v) -}}
{{- $parts = append $parts (printf "%s = %s" (include "milvus-exporter.toml.key" $k) (include "milvus-exporter.toml.scalar" $v)) -}}
{{- end -}}
{{- end -}}
{{- printf "{ %s }" (join ", " $parts) -}}
{{- else if kindIs "slice" . -}}
{{- $parts := list -}}
{{- range . -}}{{- $parts = append $parts (include "milvus-exporter.toml.scalar" .) -}}{{- end -}}
{{- printf "[%s]" (join ", " $parts) -}}
{{- else -}}
{{- fail (printf "config: a value of kind %s cannot be written as TOML" (kindOf .)) -}}
{{- end -}}
{{- end -}}

{{- define "milvus-exporter.toml.isTableList" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) -}}
{{- $all := true -}}
{{- range . -}}{{- if not (kindIs "map" .) -}}{{- $all = false -}}{{- end -}}{{- end -}}
{{- if $all -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{- define "milvus-exporter.toml.table" -}}
{{- $path := .path -}}
{{- $map := .map -}}
{{- range $k := keys $map | sortAlpha -}}
{{- $v := get $map $k -}}
{{- if and (not (kindIs "invalid" $v)) (not (kindIs "map" $v)) (not (include "milvus-exporter.toml.isTableList" $v)) }}
{{ include "milvus-exporter.toml.key" $k }} = {{ include "milvus-exporter.toml.scalar" $v }}
{{- end -}}
{{- end -}}
{{- range $k := keys $map | sortAlpha -}}
{{- $v := get $map $k -}}
{{- $sub := ternary (include "milvus-exporter.toml.key" $k) (printf "%s.%s" $path (include "milvus-exporter.toml.key" $k)) (eq $path "") -}}
{{- if kindIs "map" $v }}

[{{ $sub }}]
{{- include "milvus-exporter.toml.table" (dict "path" $sub "map" $v) -}}
{{- else if include "milvus-exporter.toml.isTableList" $v -}}
{{- range $v }}

[[{{ $sub }}]]
{{- include "milvus-exporter.toml.table" (dict "path" $sub "map" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "milvus-exporter.configToml" -}}
# milvus_exporter configuration rendered by the {{ include "milvus-exporter.chart" . }} chart
# from its values (config, milvus.*). Secrets are files under {{ include "milvus-exporter.configDir" . }}/.
{{- include "milvus-exporter.toml.table" (dict "path" "" "map" (include "milvus-exporter.configDict" . | fromJson)) }}
{{ end -}}
