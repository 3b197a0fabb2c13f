// Every knob of the milvus_exporter mixin. Override any key from your own jsonnet:
//
//   (import 'mixin/mixin.libsonnet') + { _config+:: { milvusExporterSelector: 'job="my-exporter"' } }
//
// Thresholds are the shipped defaults; the alert texts, the dashboards' threshold lines and
// the runbook quote these numbers, so change them here and nowhere else.
{
  _config+:: {
    // Selects every series the exporter serves, through its /metrics and /probe scrapes, and
    // nothing else. The default matches the docker-compose jobs (milvus_exporter, milvus_probe)
    // and the job a ServiceMonitor gives (the Service's name, e.g. my-release-milvus-exporter);
    // it does not match Milvus's own metrics job (my-release-milvus). Set it to your job name
    // (job="...") when yours differs.
    milvusExporterSelector: 'job=~".*milvus.*(exporter|probe).*"',

    // The label that names the Kubernetes cluster in a multi-cluster Prometheus (Thanos,
    // Mimir, a federation), as in kubernetes-mixin. Every aggregation keeps it.
    clusterLabel: 'cluster',
    // Shows the dashboards' cluster variable. Hidden, it still filters: it takes the only
    // cluster there is, or the empty value that matches series without the label.
    showMultiCluster: false,

    // Where each alert's runbook_url points: %s is the alert name in lower case, the anchor
    // of its section in docs/runbook.md. `your-org` is a placeholder: point it at the copy of
    // docs/runbook.md your on-call reads (your fork, your wiki).
    runbookURLPattern: 'https://github.com/your-org/milvus_exporter/blob/main/docs/runbook.md#%s',

    // Dashboard file name -> uid. Stable: links between the dashboards and bookmarks use them.
    grafanaDashboardIDs: {
      'milvus-health.json': 'milvus-health',
      'milvus-collections.json': 'milvus-collections',
    },
    grafanaDashboardTags: ['milvus', 'milvus_exporter'],
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-6h',

    // MilvusExporterAbsent: fires when Prometheus has no target of the selector at all (a
    // ServiceMonitor that no Prometheus selects, a renamed job). kube-prometheus-stack's
    // TargetDown only sees targets that exist, so it cannot tell this; turn it off where
    // another alert already watches for missing scrape jobs. It is derived from
    // milvusExporterSelector, so it follows a renamed job.
    exporterAbsentAlert: true,

    // ---------------------------------------------------------------- alert thresholds
    milvusDownFor: '1m',
    milvusNotReadyFor: '5m',
    milvusUnhealthyFor: '2m',
    // MilvusReadinessFlapping: this many verdict transitions (ready <-> not ready, or a change
    // of the failing rules or cause; milvus_readiness_transitions_total, so flaps between
    // scrapes count) within the window. 4 is two trips out of service and back.
    readinessFlappingTransitions: 4,
    readinessFlappingWindow: '30m',
    readinessFlappingFor: '2m',
    collectionNotLoadedFor: '5m',
    // A collection below 100 % loaded that has not moved for this long (and existed this long).
    collectionLoadingStuckWindow: '15m',
    probeFailingFor: '2m',
    probeSlowSeconds: 0.5,
    probeSlowFor: '10m',
    // Host memory/disk: warning above the first, critical at or above the second. The
    // critical levels are the exporter's readiness.memory_percent_max / disk_percent_max
    // defaults, so critical means "the readiness rule fails".
    hostMemoryWarningPercent: 80,
    hostMemoryCriticalPercent: 90,
    hostMemoryFor: '5m',
    hostDiskWarningPercent: 85,
    hostDiskCriticalPercent: 95,
    hostDiskFor: '5m',
    quotaDeniedFor: '5m',
    dependencyDownFor: '2m',
    componentUnhealthyFor: '2m',
    nodeErrorFor: '2m',
    nodeMissingFor: '1m',
    // Milvus node memory: warning above the first, critical above the second (the readiness
    // rule fails above readiness.memory_percent_max, `>`).
    nodeMemoryWarningPercent: 80,
    nodeMemoryCriticalPercent: 90,
    nodeMemoryFor: '5m',
    // Two inventory passes (cache.inventory_interval, default 5m) must agree.
    indexBuildFailedFor: '10m',
    indexPendingRowsMin: 10000,
    indexPendingRatio: 0.1,
    indexPendingFor: '30m',
    ragProbeFailingFor: '2m',
    ragProbeSlowSeconds: 1,
    ragProbeSlowFor: '10m',
    exporterCheckFailingFor: '5m',
    exporterDownFor: '2m',
    exporterAbsentFor: '2m',
    cacheStaleSeconds: 120,
    cacheStaleFor: '2m',
    // MilvusExporterProbeTargetsFull: new discovered targets refused (fleet.max_targets live).
    probeTargetsFullFor: '5m',
    collectionsSkippedFor: '15m',

    // Evaluation interval of the recording-rule group (the rate()s in it use 5m, which the
    // record names say).
    recordingInterval: '30s',
  },
}
