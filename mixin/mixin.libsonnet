// The milvus_exporter monitoring mixin: prometheusAlerts, prometheusRules and
// grafanaDashboards, laid out as node-mixin and kubernetes-mixin are. Plain jsonnet, no
// libraries. Configure through _config (config.libsonnet); scripts/mixin.sh build renders
// the files the repository ships from it (docs/mixin.md).
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
