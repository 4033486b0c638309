// What users of the mixin override: `(import 'spanflow-mixin/mixin.libsonnet') + {_config+:: {…}}`.
{
  _config+:: {
    // Selects spanflow's own series in every alert (the job Prometheus scrapes it as).
    spanflowSelector: 'job="spanflow"',
    // SpanflowCollectorQueueNearlyFull fires above this exporter-queue fill ratio.
    collectorQueueNearlyFull: 0.8,
    // How long each alert's condition must hold before it fires.
    alertFor: {
      SpanflowPipelineBlocked: '1m',
      SpanflowStageDegraded: '10m',
      SpanflowTempoDroppingSpans: '5m',
      SpanflowCollectorQueueNearlyFull: '5m',
      SpanflowTargetDown: '5m',
      SpanflowSnapshotStale: '2m',
      SpanflowCauseDetected: '2m',
      SpanflowDiscoveryEmpty: '5m',
      SpanflowSourceDown: '5m',
      SpanflowCanaryMissing: '5m',
      SpanflowCanarySlow: '15m',
      SpanflowHopImbalance: '15m',
    },
    // The dashboard's identity in Grafana.
    dashboardUid: 'spanflow-pipeline',
    dashboardTags: ['spanflow', 'tracing', 'tempo', 'opentelemetry'],
    dashboardRefresh: '30s',
  },
}
