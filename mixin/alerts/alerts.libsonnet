// Alerting rules. Every expression selects through _config.milvusExporterSelector (no job
// name is written here) and keeps every label of its series; the two that aggregate or join
// keep the cluster label, namespace, job and instance. Each alert gets its runbook_url from
// _config.runbookURLPattern (the anchor is the alert name in lower case: its section in
// docs/runbook.md) at the end of this file.
//
// Annotations are Prometheus templates: `{{ ... }}` is expanded when the alert fires, and a
// literal `%` of a printf is written `%%` where the string goes through jsonnet's `%`.
local withRunbooks(cfg, groups) = [
  g {
    rules: [
      r { annotations+: { runbook_url: cfg.runbookURLPattern % std.asciiLower(r.alert) } }
      for r in g.rules
    ],
  }
  for g in groups
];

{
  prometheusAlerts+:: {
    local cfg = $._config,
    local sel = cfg.milvusExporterSelector,
    local by = '%s, namespace, job, instance' % cfg.clusterLabel,
    // Where a series comes from, for descriptions: instance, then namespace/job.
    local where = '{{ $labels.instance }} ({{ $labels.namespace }}/{{ $labels.job }})',
    local fmt(s) = s % (cfg { sel: sel, by: by, where: where, indexPendingPercent: std.round(100000 * cfg.indexPendingRatio) / 1000 }),

    groups+: withRunbooks(cfg, [
      {
        name: 'milvus.alerts',
        rules: [
          {
            alert: 'MilvusDown',
            expr: fmt('milvus_up{%(sel)s} == 0'),
            'for': cfg.milvusDownFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Milvus {{ $labels.instance }} is down.'),
              description: fmt('The exporter has not reached Milvus %(where)s for %(milvusDownFor)s (milvus_up == 0): clients cannot use it either.'),
            },
          },
          {
            alert: 'MilvusNotReady',
            expr: fmt('milvus_readiness{%(sel)s} == 0'),
            'for': cfg.milvusNotReadyFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Milvus {{ $labels.instance }} is not ready.'),
              description: fmt('At least one readiness rule of %(where)s has failed for %(milvusNotReadyFor)s; /readyz answers 503 and Kubernetes takes the pod out of its Service. milvus_readiness_check == 0 names the failing rule.'),
            },
          },
          {
            alert: 'MilvusReadinessFlapping',
            // The counter, not changes(milvus_readiness): a flap that heals between two
            // scrapes is invisible to the gauge, and that is the flap that pages at 03:15.
            expr: fmt('increase(milvus_readiness_transitions_total{%(sel)s}[%(readinessFlappingWindow)s]) >= %(readinessFlappingTransitions)s'),
            'for': cfg.readinessFlappingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Readiness of Milvus {{ $labels.instance }} is flapping.'),
              description: fmt('The /readyz verdict of %(where)s changed about {{ $value | printf "%%.0f" }} times in %(readinessFlappingWindow)s (at least %(readinessFlappingTransitions)s): Kubernetes keeps taking the pod out of its Service and back. The exporter keeps each transition with its reasons: /health history, its status page at /, or milvus_exporter check --url.'),
            },
          },
          {
            alert: 'MilvusUnhealthy',
            expr: fmt('milvus_healthy{%(sel)s} == 0 and on (%(by)s) milvus_up{%(sel)s} == 1'),
            'for': cfg.milvusUnhealthyFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Milvus {{ $labels.instance }} answers but reports itself unhealthy.'),
              description: fmt('Milvus %(where)s is reachable but CheckHealth has returned is_healthy=false for %(milvusUnhealthyFor)s. Check milvus_quota_state and the Milvus logs.'),
            },
          },
          {
            alert: 'MilvusCollectionNotLoaded',
            expr: fmt('milvus_readiness_check{%(sel)s, check="collections"} == 0'),
            'for': cfg.collectionNotLoadedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Required collections of Milvus {{ $labels.instance }} are not loaded.'),
              description: fmt('The `collections` readiness rule of %(where)s has failed for %(collectionNotLoadedFor)s: a collection listed in readiness.required_collections is missing or not loaded. milvus_collection_loaded == 0 shows which.'),
            },
          },
          {
            alert: 'MilvusCollectionLoadingStuck',
            // Below 100 %, unchanged over the window, and already present a window ago (so a
            // collection whose loading has just started does not fire on its first sample).
            expr: fmt(|||
              (
                milvus_collection_loading_progress_percent{%(sel)s} < 100
                and changes(milvus_collection_loading_progress_percent{%(sel)s}[%(collectionLoadingStuckWindow)s]) == 0
              )
              and milvus_collection_loading_progress_percent{%(sel)s} offset %(collectionLoadingStuckWindow)s
            |||),
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Loading of {{ $labels.db_name }}.{{ $labels.collection_name }} on {{ $labels.instance }} is stuck at {{ $value }}%%.'),
              description: fmt('Collection {{ $labels.db_name }}.{{ $labels.collection_name }} on %(where)s has been loading for at least %(collectionLoadingStuckWindow)s without any progress.'),
            },
          },
          {
            alert: 'MilvusProbeFailing',
            // A [[readiness.probes]] entry: a real query or search on the collection did not
            // answer (error, timeout, or slower than the probe's max_latency).
            expr: fmt('milvus_probe_success{%(sel)s} == 0'),
            'for': cfg.probeFailingFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Milvus {{ $labels.instance }} cannot answer a {{ $labels.kind }} on {{ $labels.db_name }}.{{ $labels.collection_name }}.'),
              description: fmt("The exporter's {{ $labels.kind }} probe on {{ $labels.db_name }}.{{ $labels.collection_name }} of %(where)s has failed for %(probeFailingFor)s (error, timeout or slower than its max_latency): Milvus cannot answer a real read on that collection, so clients' reads fail too."),
            },
          },
          {
            alert: 'MilvusProbeSlow',
            // Not derived from the probe's max_latency: a warning before that turns a slow
            // answer into a failure. The dashboard's threshold line reads the same key.
            expr: fmt('milvus_probe_duration_seconds{%(sel)s} > %(probeSlowSeconds)s'),
            'for': cfg.probeSlowFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('The {{ $labels.kind }} probe on {{ $labels.db_name }}.{{ $labels.collection_name }} of Milvus {{ $labels.instance }} takes {{ $value | printf "%%.2f" }} s.'),
              description: fmt("The exporter's {{ $labels.kind }} probe on {{ $labels.db_name }}.{{ $labels.collection_name }} of %(where)s has taken more than %(probeSlowSeconds)s s for %(probeSlowFor)s. It still answers; set the probe's max_latency in [[readiness.probes]] to make an answer slower than that a failure (MilvusProbeFailing, readiness rule probe)."),
            },
          },
          {
            alert: 'MilvusHostMemoryHigh',
            expr: fmt('milvus_host_memory_percent{%(sel)s} > %(hostMemoryWarningPercent)s'),
            'for': cfg.hostMemoryFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Memory of the Milvus host {{ $labels.instance }} is {{ $value | printf "%%.1f" }}%% used.'),
              description: fmt('Host memory use on %(where)s has been above %(hostMemoryWarningPercent)s%% for %(hostMemoryFor)s. At %(hostMemoryCriticalPercent)s%% (readiness.memory_percent_max) the exporter reports not-ready.'),
            },
          },
          {
            alert: 'MilvusHostMemoryHigh',
            expr: fmt('milvus_host_memory_percent{%(sel)s} >= %(hostMemoryCriticalPercent)s'),
            'for': cfg.hostMemoryFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Memory of the Milvus host {{ $labels.instance }} is {{ $value | printf "%%.1f" }}%% used.'),
              description: fmt('Host memory use on %(where)s has been at or above %(hostMemoryCriticalPercent)s%% for %(hostMemoryFor)s: the memory readiness rule fails with the default threshold and Milvus risks being OOM-killed.'),
            },
          },
          {
            alert: 'MilvusHostDiskHigh',
            expr: fmt('milvus_host_disk_percent{%(sel)s} > %(hostDiskWarningPercent)s'),
            'for': cfg.hostDiskFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Disk {{ $labels.path }} of the Milvus host {{ $labels.instance }} is {{ $value | printf "%%.1f" }}%% used.'),
              description: fmt('Disk use of {{ $labels.path }} on %(where)s has been above %(hostDiskWarningPercent)s%% for %(hostDiskFor)s. At %(hostDiskCriticalPercent)s%% (readiness.disk_percent_max) the exporter reports not-ready.'),
            },
          },
          {
            alert: 'MilvusHostDiskHigh',
            expr: fmt('milvus_host_disk_percent{%(sel)s} >= %(hostDiskCriticalPercent)s'),
            'for': cfg.hostDiskFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Disk {{ $labels.path }} of the Milvus host {{ $labels.instance }} is {{ $value | printf "%%.1f" }}%% used.'),
              description: fmt('Disk use of {{ $labels.path }} on %(where)s has been at or above %(hostDiskCriticalPercent)s%% for %(hostDiskFor)s: the disk readiness rule fails with the default threshold.'),
            },
          },
          {
            alert: 'MilvusQuotaDenied',
            expr: fmt('max by (%(by)s, state) (milvus_quota_state{%(sel)s, state=~"DenyTo.*"}) == 1'),
            'for': cfg.quotaDeniedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Milvus {{ $labels.instance }} is in quota state {{ $labels.state }}.'),
              description: fmt('Milvus %(where)s has refused requests ({{ $labels.state }}) for %(quotaDeniedFor)s because of its quota and limits protection.'),
            },
          },
          {
            alert: 'MilvusDependencyDown',
            // A [[dependencies]] entry (embedding API, LLM gateway, ...) did not answer as
            // expected.
            expr: fmt('milvus_dependency_up{%(sel)s} == 0'),
            'for': cfg.dependencyDownFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('RAG dependency {{ $labels.dependency }} checked by {{ $labels.instance }} is down.'),
              description: fmt('The exporter %(where)s has found dependency {{ $labels.dependency }} down for %(dependencyDownFor)s (connection, status or body not as expected): the RAG service that uses Milvus cannot work fully. A required dependency also fails its readiness rule ({{ $labels.dependency }}).'),
            },
          },
          {
            alert: 'MilvusComponentUnhealthy',
            // milvus_component_state is 1 for each component's current state only.
            expr: fmt('milvus_component_state{%(sel)s, state=~"Abnormal|Stopping"} == 1'),
            'for': cfg.componentUnhealthyFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Milvus component {{ $labels.role }} {{ $labels.node_id }} on {{ $labels.instance }} is {{ $labels.state }}.'),
              description: fmt('The metrics port of Milvus %(where)s has reported component {{ $labels.role }} (node {{ $labels.node_id }}) as {{ $labels.state }} for %(componentUnhealthyFor)s: requests that need it fail even while the proxy answers.'),
            },
          },
          {
            alert: 'MilvusNodeError',
            // milvus_node_* come from Milvus's own GetMetrics(system_info): one series per node
            // of the cluster (role, node_id), wherever that node runs. Absent on Milvus Lite.
            expr: fmt('milvus_node_has_error{%(sel)s} == 1'),
            'for': cfg.nodeErrorFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Milvus node {{ $labels.role }} {{ $labels.node_id }} of {{ $labels.instance }} reports an error.'),
              description: fmt('Milvus %(where)s has reported has_error for its {{ $labels.role }} node {{ $labels.node_id }} for %(nodeErrorFor)s (GetMetrics system_info). The `nodes` readiness rule fails; /readyz?verbose gives Milvus\'s error_reason.'),
            },
          },
          {
            alert: 'MilvusNodeMissing',
            // A node an earlier system_info listed and this one does not: a coordinator drops a
            // node it cannot reach, and Milvus 2.6's CheckHealth never asks the nodes, so this is
            // how a dead query or streaming node shows. The series lasts readiness.node_grace.
            expr: fmt('milvus_node_missing{%(sel)s} == 1'),
            'for': cfg.nodeMissingFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Milvus node {{ $labels.role }} {{ $labels.node_id }} of {{ $labels.instance }} stopped reporting.'),
              description: fmt('Milvus %(where)s no longer lists its {{ $labels.role }} node {{ $labels.node_id }} in GetMetrics system_info (for %(nodeMissingFor)s): its coordinator cannot reach it. CheckHealth may still say healthy (always on 2.6). The `nodes` readiness rule fails until the node is back, replaced by a new one of its role, or readiness.node_grace has passed.'),
            },
          },
          {
            alert: 'MilvusNodeMemoryHigh',
            // Used/total memory of each Milvus node as Milvus itself reports it: the query node
            // that OOMs, not the exporter's own container. A node reporting 0 total is skipped.
            expr: fmt('100 * milvus_node_memory_used_bytes{%(sel)s} / (milvus_node_memory_bytes{%(sel)s} > 0) > %(nodeMemoryWarningPercent)s'),
            'for': cfg.nodeMemoryFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Memory of Milvus {{ $labels.role }} {{ $labels.node_id }} on {{ $labels.instance }} is {{ $value | printf "%%.1f" }}%% used.'),
              description: fmt('Milvus %(where)s has reported its {{ $labels.role }} node {{ $labels.node_id }} above %(nodeMemoryWarningPercent)s%% of its memory for %(nodeMemoryFor)s. Above %(nodeMemoryCriticalPercent)s%% (readiness.memory_percent_max) the `memory` readiness rule fails.'),
            },
          },
          {
            alert: 'MilvusNodeMemoryHigh',
            expr: fmt('100 * milvus_node_memory_used_bytes{%(sel)s} / (milvus_node_memory_bytes{%(sel)s} > 0) > %(nodeMemoryCriticalPercent)s'),
            'for': cfg.nodeMemoryFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Memory of Milvus {{ $labels.role }} {{ $labels.node_id }} on {{ $labels.instance }} is {{ $value | printf "%%.1f" }}%% used.'),
              description: fmt('Milvus %(where)s has reported its {{ $labels.role }} node {{ $labels.node_id }} above %(nodeMemoryCriticalPercent)s%% of its memory for %(nodeMemoryFor)s: the `memory` readiness rule fails with the default threshold and the node risks being OOM-killed.'),
            },
          },
          {
            alert: 'MilvusIndexBuildFailed',
            // Index states come from the inventory refresh; Failed is final in Milvus (Retry
            // is not).
            expr: fmt('milvus_collection_index_state{%(sel)s, state="Failed"} == 1'),
            'for': cfg.indexBuildFailedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Index {{ $labels.index_name }} of {{ $labels.db_name }}.{{ $labels.collection_name }} on {{ $labels.instance }} failed to build.'),
              description: fmt("Milvus %(where)s has reported index {{ $labels.index_name }} of {{ $labels.db_name }}.{{ $labels.collection_name }} as Failed for %(indexBuildFailedFor)s: searches on it are brute force or fail. On a required collection the `collections` readiness rule fails with Milvus's reason."),
            },
          },
          {
            alert: 'MilvusIndexPendingHigh',
            // More than indexPendingRatio of an index's rows (indexed + pending) and more than
            // indexPendingRowsMin rows still wait for the index. The floor keeps small
            // collections quiet; the ratio keeps a big collection's steady trickle quiet.
            expr: fmt(|||
              milvus_collection_index_pending_rows{%(sel)s} > %(indexPendingRowsMin)s
              and
              milvus_collection_index_pending_rows{%(sel)s}
                / (milvus_collection_index_pending_rows{%(sel)s} + milvus_collection_indexed_rows{%(sel)s}) > %(indexPendingRatio)s
            |||),
            'for': cfg.indexPendingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Index {{ $labels.index_name }} of {{ $labels.db_name }}.{{ $labels.collection_name }} on {{ $labels.instance }} has {{ $value | humanize }} rows pending.'),
              description: fmt('Index {{ $labels.index_name }} of {{ $labels.db_name }}.{{ $labels.collection_name }} on %(where)s has had more than %(indexPendingRowsMin)s rows and more than %(indexPendingPercent)s%% of its rows waiting for the index build for %(indexPendingFor)s: searches scan those rows brute force and index nodes are not keeping up.'),
            },
          },
          {
            alert: 'MilvusRagProbeFailing',
            // A [[rag_probes]] entry: embed the probe text, check its dimension, search it. Any
            // stage failing (or slower than the probe's max_latency) fails the probe.
            expr: fmt('milvus_rag_probe_success{%(sel)s} == 0'),
            'for': cfg.ragProbeFailingFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('RAG probe {{ $labels.probe }} of {{ $labels.instance }} is failing.'),
              description: fmt("The exporter's RAG probe {{ $labels.probe }} on %(where)s (embed, dimension check, search) has failed for %(ragProbeFailingFor)s: the retrieval path a RAG request takes is broken. /readyz?verbose names the stage and the cause."),
            },
          },
          {
            alert: 'MilvusRagProbeSlow',
            // embed + search together (stage="total").
            expr: fmt('milvus_rag_probe_duration_seconds{%(sel)s, stage="total"} > %(ragProbeSlowSeconds)s'),
            'for': cfg.ragProbeSlowFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('RAG probe {{ $labels.probe }} of {{ $labels.instance }} takes {{ $value | printf "%%.2f" }} s.'),
              description: fmt('The exporter\'s RAG probe {{ $labels.probe }} on %(where)s has taken more than %(ragProbeSlowSeconds)s s (embed + search) for %(ragProbeSlowFor)s. It still answers; the stage="embed" and stage="search" series say which half is slow. Set the probe\'s max_latency to make slower a failure.'),
            },
          },
          {
            alert: 'MilvusExporterCheckFailing',
            expr: fmt('milvus_exporter_check_success{%(sel)s} == 0'),
            'for': cfg.exporterCheckFailingFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('Exporter check {{ $labels.check }} on {{ $labels.instance }} is failing.'),
              description: fmt("The exporter's {{ $labels.check }} check on %(where)s has failed for %(exporterCheckFailingFor)s; the metrics it feeds are stale or missing. See rate(milvus_exporter_check_errors_total) and the exporter log."),
            },
          },
          {
            // Per target, critical: where kube-prometheus-stack runs, its TargetDown (a
            // warning on the share of a job's targets down) fires beside it.
            alert: 'MilvusExporterDown',
            expr: fmt('up{%(sel)s} == 0'),
            'for': cfg.exporterDownFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('The exporter target {{ $labels.instance }} cannot be scraped.'),
              description: fmt('Prometheus has had no successful scrape of %(where)s for %(exporterDownFor)s: the Milvus it watches is unmonitored.'),
            },
          },
        ] + (
          if cfg.exporterAbsentAlert then [{
            alert: 'MilvusExporterAbsent',
            expr: fmt('absent(up{%(sel)s})'),
            'for': cfg.exporterAbsentFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: fmt('Prometheus scrapes no milvus_exporter target at all.'),
              description: fmt('No target matching %(sel)s has existed for %(exporterAbsentFor)s: a ServiceMonitor no Prometheus selects (a missing release label), a renamed job or a removed scrape config. Milvus is unmonitored.'),
            },
          }] else []
        ) + [
          {
            alert: 'MilvusExporterCacheStale',
            expr: fmt('milvus_exporter_cache_age_seconds{%(sel)s} > %(cacheStaleSeconds)s'),
            'for': cfg.cacheStaleFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('The exporter {{ $labels.instance }} serves a {{ $value | humanizeDuration }} old snapshot.'),
              description: fmt("The exporter's cached snapshot on %(where)s has been older than %(cacheStaleSeconds)s s for %(cacheStaleFor)s: its background refresh is stuck or failing."),
            },
          },
          {
            // The counter grows only when a new discovered /probe target was answered 503
            // because fleet.max_targets targets were live: that Milvus is not monitored.
            alert: 'MilvusExporterProbeTargetsFull',
            expr: fmt('increase(milvus_exporter_probe_targets_refused_full_total{%(sel)s}[10m]) > 0'),
            'for': cfg.probeTargetsFullFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('The exporter {{ $labels.instance }} turns discovered Milvus targets away: fleet.max_targets are live.'),
              description: fmt('For %(probeTargetsFullFor)s the exporter on %(where)s has answered new discovered /probe targets with 503 because fleet.max_targets targets are live: those Milvus are not monitored (their probe scrapes fail). Raise fleet.max_targets (about 200 KiB each), shorten fleet.idle_timeout, or add a shard.'),
            },
          },
          {
            alert: 'MilvusCollectionsSkipped',
            // reason="filtered" is the operator's own include/exclude choice and never
            // alerts; reason="limit" means milvus.max_collections cut collections the
            // operator did not choose to drop: they have no per-collection series at all.
            expr: fmt('milvus_exporter_collections_skipped{%(sel)s, reason="limit"} > 0'),
            'for': cfg.collectionsSkippedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: fmt('The exporter {{ $labels.instance }} skips {{ $value }} collections over milvus.max_collections.'),
              description: fmt('The exporter %(where)s has left {{ $value }} collections without per-collection series for %(collectionsSkippedFor)s because milvus.max_collections is reached: their load state, rows and index progress are invisible to dashboards and alerts.'),
            },
          },
        ],
      },
    ]),
  },
}
