// Recording rules: per-instance counts the dashboards and alerts read. Every aggregation keeps
// the cluster label, namespace, job and instance, so two exporters with the same job and
// instance in two namespaces (or clusters) stay two series.
{
  prometheusRules+:: {
    local cfg = $._config,
    local sel = cfg.milvusExporterSelector,
    local by = '%s, namespace, job, instance' % cfg.clusterLabel,
    groups+: [
      {
        name: 'milvus.recording',
        interval: cfg.recordingInterval,
        rules: [
          // Collections that are not loaded (0 when every collection is loaded; absent when
          // the exporter lists no collection at all).
          {
            record: 'instance:milvus_collections_not_loaded:count',
            expr: 'sum by (%s) (milvus_collection_loaded{%s} == bool 0)' % [by, sel],
          },
          {
            record: 'instance:milvus_collections_loaded:count',
            expr: 'sum by (%s) (milvus_collection_loaded{%s} == bool 1)' % [by, sel],
          },
          {
            record: 'instance:milvus_collection_rows:sum',
            expr: 'sum by (%s) (milvus_collection_rows{%s})' % [by, sel],
          },
          // Readiness rules currently failing (0 when ready; one per failing
          // milvus_readiness_check).
          {
            record: 'instance:milvus_readiness_checks_failing:count',
            expr: 'sum by (%s) (milvus_readiness_check{%s} == bool 0)' % [by, sel],
          },
          {
            record: 'instance_check:milvus_exporter_check_errors:rate5m',
            expr: 'sum by (%s, check) (rate(milvus_exporter_check_errors_total{%s}[5m]))' % [by, sel],
          },
          {
            record: 'instance:milvus_exporter_refreshes:rate5m',
            expr: 'sum by (%s) (rate(milvus_exporter_refreshes_total{%s}[5m]))' % [by, sel],
          },
        ],
      },
    ],
  },
}
