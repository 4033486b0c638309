// The pipeline dashboard (Grafana JSON, plain jsonnet: no grafonnet). Rendered into
// dashboards/spanflow-pipeline.json by scripts/mixin.sh; its uid, tags and refresh come from _config.
{
  grafanaDashboards+:: {
    'spanflow-pipeline.json': {
      "id": null,
      uid: $._config.dashboardUid,
      "title": "spanflow / Tracing pipeline",
      "description": "Does the tracing pipeline (app → OpenTelemetry Collector → Grafana Tempo) store the spans it is sent? Stage status, where spans stop, why, and how much is lost, from spanflow's metrics.",
      tags: $._config.dashboardTags,
      "editable": false,
      "graphTooltip": 1,
      "schemaVersion": 42,
      "version": 1,
      "time": {
        "from": "now-1h",
        "to": "now"
      },
      "timepicker": {},
      "timezone": "",
      refresh: $._config.dashboardRefresh,
      "fiscalYearStartMonth": 0,
      "liveNow": false,
      "annotations": {
        "list": []
      },
      "links": [],
      "templating": {
        "list": [
          {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "includeAll": false,
            "multi": false,
            "options": [],
            "refresh": 1,
            "regex": "",
            "skipUrlSync": false
          },
          {
            "name": "job",
            "label": "job",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(spanflow_build_info, job)",
            "query": {
              "query": "label_values(spanflow_build_info, job)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery",
              "qryType": 1
            },
            "current": {},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "allValue": ".+",
            "options": [],
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "skipUrlSync": false
          },
          {
            "name": "instance",
            "label": "instance",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(spanflow_build_info{job=~\"$job\"}, instance)",
            "query": {
              "query": "label_values(spanflow_build_info{job=~\"$job\"}, instance)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery",
              "qryType": 1
            },
            "current": {},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "allValue": ".+",
            "options": [],
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "skipUrlSync": false
          },
          {
            "name": "pipeline",
            "label": "pipeline",
            "type": "query",
            "datasource": {
              "type": "prometheus",
              "uid": "${datasource}"
            },
            "definition": "label_values(spanflow_pipeline_healthy{job=~\"$job\",instance=~\"$instance\"}, pipeline)",
            "query": {
              "query": "label_values(spanflow_pipeline_healthy{job=~\"$job\",instance=~\"$instance\"}, pipeline)",
              "refId": "PrometheusVariableQueryEditor-VariableQuery",
              "qryType": 1
            },
            "current": {},
            "hide": 0,
            "includeAll": true,
            "multi": true,
            "allValue": ".+",
            "options": [],
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "skipUrlSync": false
          }
        ]
      },
      "panels": [
        {
          "type": "row",
          "title": "Pipeline $pipeline at a glance",
          "id": 1,
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 0
          },
          "panels": [],
          "repeat": "pipeline"
        },
        {
          "type": "stat",
          "title": "Stage status, left to right",
          "description": "Current status of every stage in pipeline order (spanflow_stage_status): OK, IDLE (no events), DEGRADED (success ratio below degraded_below), FAILING (at or below failing_below: the stage refuses almost everything), UNKNOWN (a target is down or unrecognised). Stages the pipeline does not have show no value.",
          "id": 2,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 5,
            "w": 24,
            "x": 0,
            "y": 1
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"unknown\"}) * 4",
              "legendFormat": "app",
              "refId": "A",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"unknown\"}) * 4",
              "legendFormat": "collector_receiver",
              "refId": "B",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"unknown\"}) * 4",
              "legendFormat": "collector_exporter",
              "refId": "C",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_distributor",
              "refId": "D",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_kafka",
              "refId": "E",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_ingester",
              "refId": "F",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_live_store",
              "refId": "G",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_storage",
              "refId": "H",
              "instant": true,
              "range": false
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"canary\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"canary\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"canary\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"canary\",status=\"unknown\"}) * 4",
              "legendFormat": "canary",
              "refId": "I",
              "instant": true,
              "range": false
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "none",
              "mappings": [
                {
                  "type": "value",
                  "options": {
                    "0": {
                      "text": "OK",
                      "color": "green",
                      "index": 0
                    },
                    "1": {
                      "text": "IDLE",
                      "color": "text",
                      "index": 1
                    },
                    "2": {
                      "text": "DEGRADED",
                      "color": "orange",
                      "index": 2
                    },
                    "3": {
                      "text": "FAILING",
                      "color": "red",
                      "index": 3
                    },
                    "4": {
                      "text": "UNKNOWN",
                      "color": "purple",
                      "index": 4
                    }
                  }
                }
              ],
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "green",
                    "value": null
                  },
                  {
                    "color": "text",
                    "value": 1
                  },
                  {
                    "color": "orange",
                    "value": 2
                  },
                  {
                    "color": "red",
                    "value": 3
                  },
                  {
                    "color": "purple",
                    "value": 4
                  }
                ]
              },
              "color": {
                "mode": "thresholds"
              }
            },
            "overrides": []
          },
          "options": {
            "reduceOptions": {
              "calcs": [
                "lastNotNull"
              ],
              "fields": "",
              "values": false
            },
            "orientation": "vertical",
            "textMode": "value_and_name",
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center",
            "wideLayout": true,
            "showPercentChange": false
          }
        },
        {
          "type": "stat",
          "title": "Blocked stage",
          "description": "The stage where spans stop (spanflow_pipeline_blocked_stage): the deepest stage of the first run of failing stages. A refusal travels upstream, so the stages before it are symptoms. Empty when spans flow.",
          "id": 3,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 8,
            "x": 0,
            "y": 6
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (stage) (spanflow_pipeline_blocked_stage{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"}) == 1",
              "legendFormat": "{{stage}}",
              "refId": "A",
              "instant": true,
              "range": false
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "none",
              "noValue": "none: spans flow",
              "color": {
                "mode": "fixed",
                "fixedColor": "red"
              }
            },
            "overrides": []
          },
          "options": {
            "reduceOptions": {
              "calcs": [
                "lastNotNull"
              ],
              "fields": "",
              "values": false
            },
            "textMode": "name",
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center"
          }
        },
        {
          "type": "stat",
          "title": "Pipeline healthy",
          "description": "1 when no stage is failing, degraded or unknown (spanflow_pipeline_healthy).",
          "id": 4,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 4,
            "x": 8,
            "y": 6
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "min(spanflow_pipeline_healthy{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "healthy",
              "refId": "A",
              "instant": true,
              "range": false
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "bool_yes_no",
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "red",
                    "value": null
                  },
                  {
                    "color": "green",
                    "value": 1
                  }
                ]
              },
              "color": {
                "mode": "thresholds"
              }
            },
            "overrides": []
          },
          "options": {
            "reduceOptions": {
              "calcs": [
                "lastNotNull"
              ],
              "fields": "",
              "values": false
            },
            "colorMode": "background",
            "graphMode": "none"
          }
        },
        {
          "type": "table",
          "title": "Active diagnoses",
          "description": "Causes spanflow detects now (spanflow_diagnosis == 1), with the stage each blames. Evidence and fix: spanflow's status page, /api/v1/status or `spanflow diagnose`; what to do: docs/runbook.md.",
          "id": 5,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 12,
            "x": 12,
            "y": 6
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (instance, pipeline, cause, stage) (spanflow_diagnosis{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"}) == 1",
              "legendFormat": "",
              "refId": "A",
              "instant": true,
              "range": false,
              "format": "table"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "none"
            },
            "overrides": []
          },
          "options": {
            "showHeader": true,
            "cellHeight": "sm"
          },
          "transformations": [
            {
              "id": "organize",
              "options": {
                "excludeByName": {
                  "Time": true,
                  "Value": true
                },
                "renameByName": {
                  "cause": "cause",
                  "stage": "stage",
                  "instance": "spanflow"
                }
              }
            }
          ]
        },
        {
          "type": "state-timeline",
          "title": "Stage status over time",
          "description": "The status of every stage over time, same colours as above: when a stage turned failing, and when it recovered.",
          "id": 6,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 24,
            "x": 0,
            "y": 10
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"app\",status=\"unknown\"}) * 4",
              "legendFormat": "app",
              "refId": "A"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_receiver\",status=\"unknown\"}) * 4",
              "legendFormat": "collector_receiver",
              "refId": "B"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"collector_exporter\",status=\"unknown\"}) * 4",
              "legendFormat": "collector_exporter",
              "refId": "C"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_distributor\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_distributor",
              "refId": "D"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_kafka\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_kafka",
              "refId": "E"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_ingester\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_ingester",
              "refId": "F"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_live_store\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_live_store",
              "refId": "G"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"idle\"}) * 1 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"degraded\"}) * 2 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"failing\"}) * 3 + sum by (stage) (spanflow_stage_status{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\",stage=\"tempo_storage\",status=\"unknown\"}) * 4",
              "legendFormat": "tempo_storage",
              "refId": "H"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "none",
              "mappings": [
                {
                  "type": "value",
                  "options": {
                    "0": {
                      "text": "OK",
                      "color": "green",
                      "index": 0
                    },
                    "1": {
                      "text": "IDLE",
                      "color": "text",
                      "index": 1
                    },
                    "2": {
                      "text": "DEGRADED",
                      "color": "orange",
                      "index": 2
                    },
                    "3": {
                      "text": "FAILING",
                      "color": "red",
                      "index": 3
                    },
                    "4": {
                      "text": "UNKNOWN",
                      "color": "purple",
                      "index": 4
                    }
                  }
                }
              ],
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "green",
                    "value": null
                  },
                  {
                    "color": "text",
                    "value": 1
                  },
                  {
                    "color": "orange",
                    "value": 2
                  },
                  {
                    "color": "red",
                    "value": 3
                  },
                  {
                    "color": "purple",
                    "value": 4
                  }
                ]
              },
              "color": {
                "mode": "thresholds"
              }
            },
            "overrides": []
          },
          "options": {
            "showValue": "never",
            "mergeValues": true,
            "rowHeight": 0.8,
            "alignValue": "left",
            "legend": {
              "showLegend": false,
              "displayMode": "list",
              "placement": "bottom"
            }
          }
        },
        {
          "type": "row",
          "title": "Pipeline $pipeline: flow",
          "id": 7,
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 18
          },
          "panels": [],
          "repeat": "pipeline"
        },
        {
          "type": "timeseries",
          "title": "Success ratio per stage",
          "description": "Successes / (successes + failures) of each stage over spanflow's window (spanflow_stage_success_ratio). Absent while a stage sees no events. 0 % is the motivating incident: every span refused.",
          "id": 8,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 19
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (stage) (spanflow_stage_success_ratio{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{stage}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "percentunit",
              "min": 0,
              "max": 1
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "timeseries",
          "title": "Throughput per stage (success vs failure)",
          "description": "Events per second of each stage over spanflow's window, by outcome (spanflow_stage_spans_per_second). Spans, except tempo_ingester (push requests), tempo_kafka (records), tempo_live_store (traces and blocks) and tempo_storage (block flushes).",
          "id": 9,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12,
            "y": 19
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (stage, outcome) (spanflow_stage_spans_per_second{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{stage}} {{outcome}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "cps"
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "timeseries",
          "title": "Tempo discards by reason (silent losses)",
          "description": "Spans Tempo discarded, per second over spanflow's window, by reason (spanflow_discarded_spans_per_second). live_traces_exceeded and trace_too_large are silent: the sender sees success and the receiver counts them as accepted.",
          "id": 10,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 0,
            "y": 27
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (reason) (spanflow_discarded_spans_per_second{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{reason}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "cps"
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "timeseries",
          "title": "Collector exporter queue fill",
          "description": "Fullest exporter queue of each Collector target, size / capacity (spanflow_collector_queue_fill_ratio). Once full, new spans are dropped; the alert warns above 80 %.",
          "id": 11,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 12,
            "x": 12,
            "y": 27
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (target, address) (spanflow_collector_queue_fill_ratio{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{target}} {{address}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "percentunit",
              "min": 0,
              "max": 1
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "row",
          "title": "Pipeline $pipeline: canary and hop balance",
          "id": 18,
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 35
          },
          "panels": [],
          "repeat": "pipeline"
        },
        {
          "type": "timeseries",
          "title": "Canary traces by result",
          "description": "Canary traces written at the pipeline's entry, per second, by what became of them (spanflow_canary_traces_total): found in Tempo's query API, incomplete or missing after canary.timeout, or write_failed.",
          "id": 19,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 8,
            "x": 0,
            "y": 36
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (result) (rate(spanflow_canary_traces_total{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"}[$__rate_interval]))",
              "legendFormat": "{{result}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "ops"
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "heatmap",
          "title": "Canary latency, write to queryable",
          "description": "Time from a canary write the entry accepted to the trace found whole in Tempo (spanflow_canary_latency_seconds).",
          "id": 20,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 8,
            "w": 8,
            "x": 8,
            "y": 36
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (le) (rate(spanflow_canary_latency_seconds_bucket{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"}[$__rate_interval]))",
              "legendFormat": "{{le}}",
              "refId": "A",
              "format": "heatmap"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "s"
            },
            "overrides": []
          },
          "options": {
            "calculate": false,
            "yAxis": {
              "unit": "s"
            }
          }
        },
        {
          "type": "stat",
          "title": "Last canary found",
          "description": "Time since the last canary trace was found in Tempo (spanflow_canary_last_found_timestamp_seconds).",
          "id": 21,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 8,
            "x": 16,
            "y": 36
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "time() - max(spanflow_canary_last_found_timestamp_seconds{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "ago",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "s"
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "timeseries",
          "title": "Hop balance",
          "description": "Spans the next hop accepted over spans the hop before sent, over spanflow's window (spanflow_hop_balance_ratio). Below 0.95: lost between the hops; above 1.05: counted twice.",
          "id": 22,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 4,
            "w": 8,
            "x": 16,
            "y": 40
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (from, to) (spanflow_hop_balance_ratio{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{from}} → {{to}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "percentunit"
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "row",
          "title": "spanflow itself",
          "id": 12,
          "collapsed": false,
          "gridPos": {
            "h": 1,
            "w": 24,
            "x": 0,
            "y": 44
          },
          "panels": []
        },
        {
          "type": "state-timeline",
          "title": "Targets up",
          "description": "Whether spanflow's last poll of each target succeeded (spanflow_target_up). A target down makes its stages unknown.",
          "id": 13,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 7,
            "w": 8,
            "x": 0,
            "y": 45
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (pipeline, target, address, role) (spanflow_target_up{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{pipeline}}/{{target}} {{address}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "bool_yes_no",
              "thresholds": {
                "mode": "absolute",
                "steps": [
                  {
                    "color": "red",
                    "value": null
                  },
                  {
                    "color": "green",
                    "value": 1
                  }
                ]
              },
              "color": {
                "mode": "thresholds"
              }
            },
            "overrides": []
          },
          "options": {
            "showValue": "never",
            "mergeValues": true,
            "legend": {
              "showLegend": false,
              "displayMode": "list",
              "placement": "bottom"
            }
          }
        },
        {
          "type": "timeseries",
          "title": "Poll duration",
          "description": "Duration of spanflow's last poll of each target (spanflow_target_scrape_duration_seconds), status endpoints and probes included for Tempo.",
          "id": 14,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 7,
            "w": 8,
            "x": 8,
            "y": 45
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (pipeline, target, address) (spanflow_target_scrape_duration_seconds{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{pipeline}}/{{target}} {{address}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "s"
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "timeseries",
          "title": "Poll errors",
          "description": "Failed polls per second by target and reason (spanflow_target_scrape_errors_total): timeout, connect, tls, http_status, too_large, parse.",
          "id": 15,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 7,
            "w": 4,
            "x": 16,
            "y": 45
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (pipeline, target, address, reason) (rate(spanflow_target_scrape_errors_total{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"}[$__rate_interval])) > 0",
              "legendFormat": "{{pipeline}}/{{target}} {{address}} {{reason}}",
              "refId": "A"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "cps"
            },
            "overrides": []
          },
          "options": {}
        },
        {
          "type": "stat",
          "title": "Snapshot age",
          "description": "Time since spanflow last derived its snapshot (spanflow_snapshot_age_seconds). It should stay below the poll interval; the alert fires above half the window.",
          "id": 16,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 7,
            "w": 4,
            "x": 20,
            "y": 45
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max(spanflow_snapshot_age_seconds{job=~\"$job\",instance=~\"$instance\"})",
              "legendFormat": "age",
              "refId": "A",
              "instant": true,
              "range": false
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "s"
            },
            "overrides": []
          },
          "options": {
            "reduceOptions": {
              "calcs": [
                "lastNotNull"
              ],
              "fields": "",
              "values": false
            },
            "graphMode": "none",
            "colorMode": "value"
          }
        },
        {
          "type": "timeseries",
          "title": "Discovered instances",
          "description": "Instances each discovering target stands for (DNS records or file_sd entries, at most max_instances). Zero means its stages are unknown; a failed refresh keeps the last list and shows in the errors series.",
          "id": 17,
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "gridPos": {
            "h": 6,
            "w": 24,
            "x": 0,
            "y": 52
          },
          "targets": [
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "max by (pipeline, target) (spanflow_discovery_instances{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"})",
              "legendFormat": "{{pipeline}}/{{target}}",
              "refId": "A"
            },
            {
              "datasource": {
                "type": "prometheus",
                "uid": "${datasource}"
              },
              "expr": "sum by (pipeline, target, reason) (increase(spanflow_discovery_errors_total{job=~\"$job\",instance=~\"$instance\",pipeline=~\"$pipeline\"}[$__rate_interval])) > 0",
              "legendFormat": "{{pipeline}}/{{target}} error: {{reason}}",
              "refId": "B"
            }
          ],
          "fieldConfig": {
            "defaults": {
              "unit": "none"
            },
            "overrides": []
          },
          "options": {}
        }
      ]
    },
  },
}
