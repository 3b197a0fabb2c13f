// The few Grafana building blocks the dashboards use, written out (no grafonnet: it cannot be
// fetched here, and these are all the mixin needs). Panels are Grafana 10.4 JSON
// (schemaVersion 39); every panel reads the `datasource` variable and carries a unit.
{
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // One query. `instant` for stat and table panels, a range query for time series.
  target(expr, legend='', instant=false, table=false):: {
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
    editorMode: 'code',
    datasource: $.datasource,
  } + (if table then { format: 'table' } else {}),

  // Threshold steps from [[color, value], ...]; the first step's value is null (the base).
  steps(list):: {
    mode: 'absolute',
    steps: [{ color: s[0], value: s[1] } for s in list],
  },

  // Value mapping {value: [text, color]} (text may be null: colour only).
  valueMap(m):: [{
    type: 'value',
    options: {
      [k]: { index: i } + { color: m[k][1] } + (if m[k][0] != null then { text: m[k][0] } else {})
      for i in std.range(0, std.length(std.objectFields(m)) - 1)
      for k in [std.objectFields(m)[i]]
    },
  }],
  upDown(zero, one):: $.valueMap({ '0': [zero, 'red'], '1': [one, 'green'] }),

  local base(type, title, description, targets, unit, w, h) = {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    targets: [
      targets[i] { refId: std.char(std.codepoint('A') + i) }
      for i in std.range(0, std.length(targets) - 1)
    ],
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    // Layout hints, replaced by gridPos in dashboard().
    w:: w,
    h:: h,
  },

  stat(title, description, targets, unit='short', mappings=[], steps=[['green', null]],
       colorMode='background', graphMode='none', w=6, h=4)::
    base('stat', title, description, [t { range: false, instant: true } for t in targets], unit, w, h) {
      fieldConfig+: { defaults+: {
        mappings: mappings,
        thresholds: $.steps(steps),
        color: { mode: 'thresholds' },
      } },
      options: {
        colorMode: colorMode,
        graphMode: graphMode,
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'auto',
        wideLayout: true,
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        showPercentChange: false,
      },
    },

  // thresholdsStyle: off | line | dashed | line+area; steps draw the alert thresholds.
  timeseries(title, description, targets, unit, min=0, max=null, steps=[['green', null]],
             thresholdsStyle='off', step=false, w=12, h=8)::
    base('timeseries', title, description, targets, unit, w, h) {
      fieldConfig+: { defaults+: {
        custom: {
          drawStyle: 'line',
          lineInterpolation: if step then 'stepAfter' else 'linear',
          lineWidth: 1,
          fillOpacity: 10,
          showPoints: 'never',
          spanNulls: false,
          thresholdsStyle: { mode: thresholdsStyle },
        },
        color: { mode: 'palette-classic' },
        thresholds: $.steps(steps),
      } + (if min != null then { min: min } else {})
        + (if max != null then { max: max } else {}) },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // A state timeline: one band per series, coloured by value mappings (Grafana's
  // state-timeline panel), for states over time such as ready / not ready.
  stateTimeline(title, description, targets, mappings, w=24, h=8)::
    base('state-timeline', title, description, targets, 'none', w, h) {
      fieldConfig+: { defaults+: {
        custom: { lineWidth: 0, fillOpacity: 80, spanNulls: false },
        color: { mode: 'thresholds' },
        thresholds: $.steps([['green', null]]),
        mappings: mappings,
      } },
      options: {
        mergeValues: true,
        showValue: 'auto',
        alignValue: 'left',
        rowHeight: 0.9,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: false },
        tooltip: { mode: 'single', sort: 'none' },
      },
    },

  // A table of instant queries. `rename` maps result columns to headers; `hide` lists the
  // columns left out (Time and __name__ always are). Several queries are merged into one row
  // per label set.
  table(title, description, targets, unit, rename={}, hide=[], order={}, overrides=[], w=12, h=8)::
    base('table', title, description, [t { range: false, instant: true, format: 'table' } for t in targets], unit, w, h) {
      transformations:
        (if std.length(targets) > 1 then [{ id: 'merge', options: {} }] else [])
        + [{
          id: 'organize',
          options: {
            excludeByName: { [c]: true for c in ['Time', '__name__'] + hide },
            renameByName: rename,
            indexByName: order,
          },
        }],
      fieldConfig+: {
        defaults+: {
          mappings: [],
          custom: { align: 'auto', cellOptions: { type: 'auto' } },
          thresholds: $.steps([['green', null]]),
        },
        overrides: overrides,
      },
      options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
    },

  // A field override for table columns.
  column(name, properties):: { matcher: { id: 'byName', options: name }, properties: properties },

  // Grafana shows no description on a row (its schema has none): kept in the jsonnet only,
  // for the reader.
  row(title, description):: {
    type: 'row',
    title: title,
    description:: description,
    collapsed: false,
    panels: [],
    datasource: $.datasource,
    w:: 24,
    h:: 1,
  },

  // Ids in order and gridPos by flowing the panels left to right, 24 columns wide, a new
  // line when a panel does not fit (or after a row).
  layout(panels)::
    local step(acc, p) =
      local wrap = acc.x + p.w > 24 || p.type == 'row';
      local x = if wrap then 0 else acc.x;
      local y = if wrap then acc.lineY + acc.lineH else acc.lineY;
      local lineH = if wrap then p.h else std.max(acc.lineH, p.h);
      acc {
        x: x + p.w,
        lineY: y,
        lineH: lineH,
        out+: [p { id: std.length(acc.out) + 1, gridPos: { h: p.h, w: p.w, x: x, y: y } }],
      };
    std.foldl(step, panels, { x: 0, lineY: 0, lineH: 0, out: [] }).out,

  // ---------------------------------------------------------------- template variables
  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: { selected: false, text: 'default', value: 'default' },
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
    skipUrlSync: false,
  },

  // label_values(SELECTOR, LABEL). With `all`, multi-valued with `.+` for All: every
  // non-empty value, never `.*` (which also matches series without the label).
  queryVariable(name, label, selector, hide=0, all=true, labelName=name):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.datasource,
    query: {
      query: 'label_values(%s, %s)' % [selector, labelName],
      qryType: 1,
      refId: 'PrometheusVariableQueryEditor-VariableQuery',
    },
    current: if all then { selected: true, text: ['All'], value: ['$__all'] }
    else { selected: false, text: '', value: '' },
    hide: hide,
    includeAll: all,
    multi: all,
    options: [],
    refresh: 2,
    regex: '',
    skipUrlSync: false,
    sort: 1,
  } + (if all then { allValue: '.+' } else {}),

  link(title, uid, slug, vars):: {
    title: title,
    type: 'link',
    url: '/d/%s/%s?${__url_time_range}&%s' % [uid, slug, std.join('&', ['${%s:queryparam}' % v for v in vars])],
    icon: 'dashboard',
    targetBlank: false,
    asDropdown: false,
    includeVars: false,
    keepTime: false,
    tags: [],
    tooltip: '',
  },

  dashboard(cfg, file, title, description, variables, panels, links):: {
    annotations: { list: [{
      builtIn: 1,
      datasource: { type: 'grafana', uid: '-- Grafana --' },
      enable: true,
      hide: true,
      iconColor: 'rgba(0, 211, 255, 1)',
      name: 'Annotations & Alerts',
      type: 'dashboard',
    }] },
    description: description,
    // Generated from the mixin: an edit in Grafana would be lost at the next provisioning.
    editable: false,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: links,
    liveNow: false,
    panels: $.layout(panels),
    refresh: cfg.dashboardRefresh,
    schemaVersion: 39,
    tags: cfg.grafanaDashboardTags,
    templating: { list: variables },
    time: { from: cfg.dashboardTimeFrom, to: 'now' },
    timepicker: {},
    timezone: '',
    title: title,
    uid: cfg.grafanaDashboardIDs[file],
    version: 1,
    weekStart: '',
  },
}
