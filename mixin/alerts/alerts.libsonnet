// The alerting rules. Rendered into alerts/spanflow-alerts.yaml by scripts/mixin.sh;
// `for:` durations, the selector of spanflow's own series and the queue threshold come
// from _config (config.libsonnet).
// spanflow alerting rules: page when spans stop, warn when they leak.
//
// Load with `rule_files: [spanflow-alerts.yaml, spanflow-recording.yaml]` (examples/prometheus.yml).
// Every expression groups by job, instance and pipeline, so one Prometheus can watch several
// spanflows, each watching several pipelines; every alert names its pipeline.
// runbook_url anchors point into docs/runbook.md; prefix them with where you publish the docs.
// Unit tests: alerts/tests/ (promtool test rules).
{
  prometheusAlerts+:: {
    groups+: [
      {
        name: "spanflow",
        rules: [
          // The incident: a stage refuses (almost) every span. spanflow marks the deepest stage of
          // the first run of failing stages as blocked (a refusal travels upstream), so this fires
          // once, at the stage to fix. Time to page, at a 15 s poll and scrape interval: spanflow
          // sees it within 2 polls (30 s), Prometheus scrapes it within 15 s and evaluates within
          // 15 s, then `for: 1m` — at most 2 min after the refusals start.
          {
            alert: "SpanflowPipelineBlocked",
            expr: "max by (job, instance, pipeline, stage) (spanflow_pipeline_blocked_stage{%(spanflowSelector)s}) == 1" % $._config,
            'for': $._config.alertFor.SpanflowPipelineBlocked,
            labels: {"severity": "critical"},
            annotations: {"summary": "Spans stop at one stage of a tracing pipeline.", "description": "Spans of pipeline {{ $labels.pipeline }} stop at stage {{ $labels.stage }} (spanflow {{ $labels.instance }}): it passes on at most 1 % of what it receives. {{- with query (printf \"spanflow_stage_spans_per_second{job=%q,instance=%q,pipeline=%q,stage=%q,outcome=\\\"failure\\\"}\" $labels.job $labels.instance $labels.pipeline $labels.stage) }} Failures: {{ . | first | value | printf \"%.1f\" }}/s.{{ end }} {{- with query (printf \"spanflow_stage_success_ratio{job=%q,instance=%q,pipeline=%q,stage=%q}\" $labels.job $labels.instance $labels.pipeline $labels.stage) }} Success ratio over spanflow's window: {{ . | first | value | humanizePercentage }}.{{ end }} {{- with query (printf \"spanflow_stage_status_changed_timestamp_seconds{job=%q,instance=%q,pipeline=%q,stage=%q}\" $labels.job $labels.instance $labels.pipeline $labels.stage) }} Failing since {{ . | first | value | humanizeTimestamp }}.{{ end }} Cause: {{ range $i, $d := query (printf \"spanflow_diagnosis{job=%q,instance=%q,pipeline=%q,stage=%q} == 1\" $labels.job $labels.instance $labels.pipeline $labels.stage) }}{{ if $i }}, {{ end }}{{ $d.Labels.cause }}{{ else }}not identified (see spanflow's status page){{ end }}.", "runbook_url": "docs/runbook.md#spanflowpipelineblocked"},
          },
          // Part of the spans is lost: the stage's success ratio is below its degraded_below
          // threshold (default 0.99) but above failing_below.
          {
            alert: "SpanflowStageDegraded",
            expr: "max by (job, instance, pipeline, stage) (spanflow_stage_success_ratio{%(spanflowSelector)s})\n  and on (job, instance, pipeline, stage)\nmax by (job, instance, pipeline, stage) (spanflow_stage_status{%(spanflowSelector)s, status=\"degraded\"}) == 1\n" % $._config,
            'for': $._config.alertFor.SpanflowStageDegraded,
            labels: {"severity": "warning"},
            annotations: {"summary": "A pipeline stage loses part of the spans it receives.", "description": "Stage {{ $labels.stage }} of pipeline {{ $labels.pipeline }} (spanflow {{ $labels.instance }}) passes on only {{ $value | humanizePercentage }} of its events over spanflow's window. Cause: {{ range $i, $d := query (printf \"spanflow_diagnosis{job=%q,instance=%q,pipeline=%q,stage=%q} == 1\" $labels.job $labels.instance $labels.pipeline $labels.stage) }}{{ if $i }}, {{ end }}{{ $d.Labels.cause }}{{ else }}not identified{{ end }}.", "runbook_url": "docs/runbook.md#spanflowstagedegraded"},
          },
          // Tempo's limit drops. live_traces_exceeded and trace_too_large are silent: senders see
          // success and the receiver counts the spans as accepted (Tempo >= 2.4).
          {
            alert: "SpanflowTempoDroppingSpans",
            expr: "sum by (job, instance, pipeline, reason) (\n  spanflow_discarded_spans_per_second{%(spanflowSelector)s, reason=~\"live_traces_exceeded|trace_too_large|rate_limited\"}\n) > 0\n" % $._config,
            'for': $._config.alertFor.SpanflowTempoDroppingSpans,
            labels: {"severity": "warning"},
            annotations: {"summary": "Tempo discards spans because of its limits.", "description": "Tempo of pipeline {{ $labels.pipeline }} discards {{ $value | printf \"%.2f\" }} spans/s with reason {{ $labels.reason }} (spanflow {{ $labels.instance }}; stage tempo_distributor for rate_limited, tempo_ingester or tempo_live_store for the others).", "runbook_url": "docs/runbook.md#spanflowtempodroppingspans"},
          },
          {
            alert: "SpanflowCollectorQueueNearlyFull",
            expr: "max by (job, instance, pipeline, target) (spanflow_collector_queue_fill_ratio{%(spanflowSelector)s}) > %(collectorQueueNearlyFull)s" % $._config,
            'for': $._config.alertFor.SpanflowCollectorQueueNearlyFull,
            labels: {"severity": "warning"},
            annotations: {"summary": "An OpenTelemetry Collector's exporter queue is nearly full.", "description": "The fullest exporter queue of Collector {{ $labels.target }} (pipeline {{ $labels.pipeline }}, stage collector_exporter, spanflow {{ $labels.instance }}) is {{ $value | humanizePercentage }} full; when it is full, new spans are dropped.", "runbook_url": "docs/runbook.md#spanflowcollectorqueuenearlyfull"},
          },
          {
            alert: "SpanflowTargetDown",
            expr: "max by (job, instance, pipeline, target, address, role) (spanflow_target_up{%(spanflowSelector)s}) == 0" % $._config,
            'for': $._config.alertFor.SpanflowTargetDown,
            labels: {"severity": "warning"},
            annotations: {"summary": "A spanflow target cannot be polled.", "description": "spanflow {{ $labels.instance }} cannot poll {{ $labels.role }} target {{ $labels.target }} at {{ $labels.address }} (pipeline {{ $labels.pipeline }}): a written target makes the {{ $labels.role }} stages unknown; a discovered instance is left out while others of its target answer. {{- range query (printf \"sum by (reason) (increase(spanflow_target_scrape_errors_total{job=%q,instance=%q,pipeline=%q,target=%q,address=%q}[5m])) > 0\" $labels.job $labels.instance $labels.pipeline $labels.target $labels.address) }} {{ .Labels.reason }}: {{ .Value | printf \"%.0f\" }} failed polls in the last 5m.{{ end }}", "runbook_url": "docs/runbook.md#spanflowtargetdown"},
          },
          // spanflow derives a snapshot after every poll; one older than half the window means its
          // polling or deriving stopped, and every other spanflow alert would go quiet.
          {
            alert: "SpanflowSnapshotStale",
            expr: "max by (job, instance) (spanflow_snapshot_age_seconds{%(spanflowSelector)s})\n  > on (job, instance)\nmax by (job, instance) (spanflow_window_seconds{%(spanflowSelector)s}) / 2\n" % $._config,
            'for': $._config.alertFor.SpanflowSnapshotStale,
            labels: {"severity": "warning"},
            annotations: {"summary": "The spanflow snapshot is not being refreshed.", "description": "spanflow {{ $labels.instance }} last derived its snapshot {{ $value | humanizeDuration }} ago; stage statuses are stale.", "runbook_url": "docs/runbook.md#spanflowsnapshotstale"},
          },
          // Every cause spanflow names, for routing and for the ticket: the critical page above
          // carries the blocked stage's cause in its description.
          {
            alert: "SpanflowCauseDetected",
            expr: "max by (job, instance, pipeline, cause, stage) (spanflow_diagnosis{%(spanflowSelector)s}) == 1" % $._config,
            'for': $._config.alertFor.SpanflowCauseDetected,
            labels: {"severity": "info"},
            annotations: {"summary": "A pipeline problem has a named cause.", "description": "spanflow {{ $labels.instance }} detects cause {{ $labels.cause }} at stage {{ $labels.stage }} of pipeline {{ $labels.pipeline }}; evidence and fix on its status page and in /api/v1/status.", "runbook_url": "docs/runbook.md#spanflowcausedetected"},
          },
          // A discovering target that stands for no instance: its DNS name does not exist or has
          // no records (a headless service with no ready pod), or its file lists nothing. Its
          // stages are unknown; a failed refresh keeps the last list and does not fire this.
          {
            alert: "SpanflowDiscoveryEmpty",
            expr: "max by (job, instance, pipeline, target) (spanflow_discovery_instances{%(spanflowSelector)s}) == 0" % $._config,
            'for': $._config.alertFor.SpanflowDiscoveryEmpty,
            labels: {"severity": "warning"},
            annotations: {"summary": "Discovery finds no instance of a target.", "description": "spanflow {{ $labels.instance }} finds no instance of target {{ $labels.target }} of pipeline {{ $labels.pipeline }}, so its stages are unknown. {{- range query (printf \"sum by (reason) (increase(spanflow_discovery_errors_total{job=%q,instance=%q,pipeline=%q,target=%q}[10m])) > 0\" $labels.job $labels.instance $labels.pipeline $labels.target) }} {{ .Labels.reason }}: {{ .Value | printf \"%.0f\" }} refreshes in the last 10m.{{ end }}", "runbook_url": "docs/runbook.md#spanflowdiscoveryempty"},
          },
          // A store-sourced pipeline (source.prometheus) whose metrics store has failed every
          // poll for 5 minutes: every stage of its split pipelines is unknown. A partial answer
          // (spanflow_source_partial) is used and does not fire this.
          {
            alert: "SpanflowSourceDown",
            expr: "max by (job, instance, pipeline, source) (spanflow_source_up{%(spanflowSelector)s}) == 0" % $._config,
            'for': $._config.alertFor.SpanflowSourceDown,
            labels: {"severity": "warning"},
            annotations: {"summary": "A pipeline cannot be read from its metrics store.", "description": "spanflow {{ $labels.instance }} cannot read pipeline {{ $labels.pipeline }} from its {{ $labels.source }} source, so its stages are unknown. {{- range query (printf \"sum by (reason) (increase(spanflow_source_query_errors_total{job=%q,instance=%q,pipeline=%q}[10m])) > 0\" $labels.job $labels.instance $labels.pipeline) }} {{ .Labels.reason }}: {{ .Value | printf \"%.0f\" }} failed polls in the last 10m.{{ end }}", "runbook_url": "docs/runbook.md#spanflowsourcedown"},
          },
          // The canary: traces written at the pipeline's entry that never became queryable in
          // Tempo, and none found — loss the hops' own counters do not show (silent_loss), a
          // refused write, or a failing query path. Pages: nothing proves traces are stored.
          {
            alert: "SpanflowCanaryMissing",
            expr: "sum by (job, instance, pipeline) (\n  increase(spanflow_canary_traces_total{%(spanflowSelector)s, result=~\"missing|incomplete|write_failed\"}[10m])\n) > 0\n  unless on (job, instance, pipeline)\nsum by (job, instance, pipeline) (\n  increase(spanflow_canary_traces_total{%(spanflowSelector)s, result=\"found\"}[10m])\n) > 0\n" % $._config,
            'for': $._config.alertFor.SpanflowCanaryMissing,
            labels: {"severity": "critical"},
            annotations: {"summary": "Canary traces written to a tracing pipeline never become queryable.", "description": "{{ $value | printf \"%.0f\" }} canary traces written to pipeline {{ $labels.pipeline }} (spanflow {{ $labels.instance }}) in the last 10m were not found in Tempo, and none was. Cause: {{ range $i, $d := query (printf \"spanflow_diagnosis{job=%q,instance=%q,pipeline=%q,stage=\\\"canary\\\"} == 1\" $labels.job $labels.instance $labels.pipeline) }}{{ if $i }}, {{ end }}{{ $d.Labels.cause }}{{ else }}not identified (see spanflow's status page){{ end }}.", "runbook_url": "docs/runbook.md#spanflowcanarymissing"},
          },
          // Canary traces are found, but their p90 from write to queryable is above the
          // pipeline's canary.slow_after (spanflow's canary_slow cause).
          {
            alert: "SpanflowCanarySlow",
            expr: "max by (job, instance, pipeline) (spanflow_diagnosis{%(spanflowSelector)s, cause=\"canary_slow\"}) == 1" % $._config,
            'for': $._config.alertFor.SpanflowCanarySlow,
            labels: {"severity": "warning"},
            annotations: {"summary": "Canary traces take long to become queryable.", "description": "Canary traces of pipeline {{ $labels.pipeline }} (spanflow {{ $labels.instance }}) become queryable slowly. {{- with query (printf \"histogram_quantile(0.9, sum by (le) (rate(spanflow_canary_latency_seconds_bucket{job=%q,instance=%q,pipeline=%q}[15m])))\" $labels.job $labels.instance $labels.pipeline) }} p90 over 15m: {{ . | first | value | humanizeDuration }}.{{ end }}", "runbook_url": "docs/runbook.md#spanflowcanaryslow"},
          },
          // One hop accepts fewer spans than the one before says it sent (or more), while both
          // report success: spans lost between them, or counted twice.
          {
            alert: "SpanflowHopImbalance",
            expr: "max by (job, instance, pipeline, cause, stage) (spanflow_diagnosis{%(spanflowSelector)s, cause=~\"spans_lost_between_hops|hop_double_counted\"}) == 1" % $._config,
            'for': $._config.alertFor.SpanflowHopImbalance,
            labels: {"severity": "warning"},
            annotations: {"summary": "One hop of a tracing pipeline accepts a different number of spans than the hop before sent.", "description": "Pipeline {{ $labels.pipeline }} (spanflow {{ $labels.instance }}): {{ $labels.cause }} before stage {{ $labels.stage }}, while both sides report success.", "runbook_url": "docs/runbook.md#spanflowhopimbalance"},
          },
        ],
      },
    ],
  },
}
