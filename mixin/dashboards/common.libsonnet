// What both dashboards share: the selection variables and the label filter every query
// carries, built from _config.
local g = import '../lib/dashboard.libsonnet';

function(cfg) {
  local cl = cfg.clusterLabel,
  local sel = cfg.milvusExporterSelector,

  // The exporter's series of the selected cluster, namespaces, jobs and instances (the job
  // variable only offers jobs of the selector; the selector stays in every query so that All
  // never reaches another job's `up`). `extra` adds matchers (", db_name=~...").
  filter(extra='')::
    '%s, %s="$cluster", namespace=~"$namespace", job=~"$job", instance=~"$instance"%s' % [sel, cl, extra],

  // Aggregations keep where a series comes from; `extra` adds labels (", check").
  by(extra='')::
    '%s, namespace, job, instance%s' % [cl, extra],

  // Legend prefix that tells two instances of the same name in two namespaces apart.
  legend(extra='')::
    '{{namespace}}/{{instance}}%s' % extra,

  variables:: [
    g.datasourceVariable,
    // Hidden unless multi-cluster: then it takes the only cluster, or the empty value, which
    // `cluster=""` matches on series without the label (a single Prometheus).
    g.queryVariable('cluster', 'Cluster', 'milvus_up{%s}' % sel,
                    hide=if cfg.showMultiCluster then 0 else 2, all=false, labelName=cl),
    g.queryVariable('namespace', 'Namespace', 'milvus_up{%s, %s="$cluster"}' % [sel, cl]),
    g.queryVariable('job', 'Job', 'milvus_up{%s, %s="$cluster", namespace=~"$namespace"}' % [sel, cl]),
    g.queryVariable('instance', 'Instance',
                    'milvus_up{%s, %s="$cluster", namespace=~"$namespace", job=~"$job"}' % [sel, cl]),
  ],

  linkVars:: ['datasource', 'cluster', 'namespace', 'job', 'instance'],
}
