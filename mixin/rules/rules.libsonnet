// The recording rules. Rendered into alerts/spanflow-recording.yaml by scripts/mixin.sh.
// The acceptance ratios spanflow computes, as Prometheus recording rules over Tempo's and the
// OpenTelemetry Collector's own metrics — for fleets that already collect those into
// Prometheus, Mimir or Thanos and want the signal without running a spanflow per cluster.
//
// Names follow level:metric:operations; level is cluster_namespace_job (labels that are absent
// are simply empty). Rates are over 5m, spanflow's default window. Both Collector spellings
// (with and without _total) are matched through __name__.
//
// What spanflow adds beyond these: the 2-poll detection (these see a change only as fast as
// rate[5m] moves), the blocked stage, the diagnosis (status endpoints, ring, gRPC probe), Tempo
// version and mode detection (3.x stages), and the app stage. See docs/runbook.md, "spanflow or
// recording rules". Unit tests: alerts/tests/spanflow-recording-test.yaml.
{
  prometheusRules+:: {
    "groups": [
      {
        "name": "spanflow-tempo",
        "rules": [
          {
            "record": "cluster_namespace_job:tempo_receiver_accepted_spans:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate({__name__=~\"tempo_receiver_accepted_spans(_total)?\"}[5m]))"
          },
          {
            "record": "cluster_namespace_job:tempo_receiver_refused_spans:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate({__name__=~\"tempo_receiver_refused_spans(_total)?\"}[5m]))"
          },
          {
            "record": "cluster_namespace_job:tempo_distributor_success:ratio_rate5m",
            "expr": "cluster_namespace_job:tempo_receiver_accepted_spans:rate5m\n  /\n(\n  cluster_namespace_job:tempo_receiver_accepted_spans:rate5m\n  + (cluster_namespace_job:tempo_receiver_refused_spans:rate5m or on (cluster, namespace, job) cluster_namespace_job:tempo_receiver_accepted_spans:rate5m * 0)\n) > -1\n"
          },
          {
            "record": "cluster_namespace_job:tempo_distributor_ingester_appends:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate(tempo_distributor_ingester_appends_total[5m]))"
          },
          {
            "record": "cluster_namespace_job:tempo_distributor_ingester_append_failures:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate(tempo_distributor_ingester_append_failures_total[5m]))"
          },
          {
            "record": "cluster_namespace_job:tempo_ingester_success:ratio_rate5m",
            "expr": "(\n  1 - clamp_max(\n        cluster_namespace_job:tempo_distributor_ingester_append_failures:rate5m\n          / cluster_namespace_job:tempo_distributor_ingester_appends:rate5m,\n        1)\n    and on (cluster, namespace, job)\n  cluster_namespace_job:tempo_receiver_refused_spans:rate5m > 0\n)\nor on (cluster, namespace, job)\n(cluster_namespace_job:tempo_distributor_ingester_appends:rate5m > 0) * 0 + 1\n"
          },
          {
            "record": "cluster_namespace_job_reason:tempo_discarded_spans:rate5m",
            "expr": "sum by (cluster, namespace, job, reason) (rate(tempo_discarded_spans_total[5m]))"
          },
          {
            "record": "cluster_namespace_job:tempo_storage_success:ratio_rate5m",
            "expr": "sum by (cluster, namespace, job) (rate(tempo_ingester_blocks_flushed_total[5m]))\n  /\n(\n  sum by (cluster, namespace, job) (rate(tempo_ingester_blocks_flushed_total[5m]))\n  + (sum by (cluster, namespace, job) (rate(tempo_ingester_failed_flushes_total[5m])) or on (cluster, namespace, job) sum by (cluster, namespace, job) (rate(tempo_ingester_blocks_flushed_total[5m])) * 0)\n) > -1\n"
          }
        ]
      },
      {
        "name": "spanflow-collector",
        "rules": [
          {
            "record": "cluster_namespace_job:otelcol_receiver_accepted_spans:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate({__name__=~\"otelcol_receiver_accepted_spans(_total)?\"}[5m]))"
          },
          {
            "record": "cluster_namespace_job:otelcol_receiver_refused_spans:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate({__name__=~\"otelcol_receiver_(refused|failed)_spans(_total)?\"}[5m]))"
          },
          {
            "record": "cluster_namespace_job:collector_receiver_success:ratio_rate5m",
            "expr": "cluster_namespace_job:otelcol_receiver_accepted_spans:rate5m\n  /\n(\n  cluster_namespace_job:otelcol_receiver_accepted_spans:rate5m\n  + (cluster_namespace_job:otelcol_receiver_refused_spans:rate5m or on (cluster, namespace, job) cluster_namespace_job:otelcol_receiver_accepted_spans:rate5m * 0)\n) > -1\n"
          },
          {
            "record": "cluster_namespace_job:otelcol_exporter_sent_spans:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate({__name__=~\"otelcol_exporter_sent_spans(_total)?\"}[5m]))"
          },
          {
            "record": "cluster_namespace_job:otelcol_exporter_failed_spans:rate5m",
            "expr": "sum by (cluster, namespace, job) (rate({__name__=~\"otelcol_exporter_(send|enqueue)_failed_spans(_total)?\"}[5m]))"
          },
          {
            "record": "cluster_namespace_job:collector_exporter_success:ratio_rate5m",
            "expr": "cluster_namespace_job:otelcol_exporter_sent_spans:rate5m\n  /\n(\n  cluster_namespace_job:otelcol_exporter_sent_spans:rate5m\n  + (cluster_namespace_job:otelcol_exporter_failed_spans:rate5m or on (cluster, namespace, job) cluster_namespace_job:otelcol_exporter_sent_spans:rate5m * 0)\n) > -1\n"
          },
          {
            "record": "cluster_namespace_job:otelcol_exporter_queue_fill:ratio",
            "expr": "max by (cluster, namespace, job) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)"
          }
        ]
      }
    ]
  },
}
