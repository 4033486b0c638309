// spanflow's monitoring mixin, in the monitoring-mixins layout: prometheusAlerts,
// prometheusRules, grafanaDashboards and the _config users override. Plain jsonnet, no
// library needed. scripts/mixin.sh renders it into alerts/, dashboards/ and the Kubernetes
// PrometheusRule and dashboard ConfigMap; a test fails when a rendered file differs.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
