#!/usr/bin/env bash
# Checks what ships beside the binary, statically (no cluster, no container engine here):
# - the mixin renders to exactly the checked-in alerts, dashboards and generated Kubernetes
#   objects (scripts/mixin.sh --check);
# - the kustomize base renders (kubectl kustomize; Debian kubernetes-client when no kubectl),
#   its built-in kinds validate offline against the Kubernetes schemas (PyPI
#   kubernetes-validate, strict), and its prometheus-operator objects have the fields the
#   operator requires;
# - the spanflow.yml it embeds passes `spanflow check-config`;
# - the Dockerfile names the binary the build makes, flags spanflow has, and its default port.
# Usage: scripts/test-deploy.sh path/to/spanflow
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/test-deploy.sh path/to/spanflow}
fail() { echo "scripts/test-deploy.sh: $*" >&2; exit 1; }

bash scripts/mixin.sh --check

if ! command -v kubectl >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || fail "kubectl is required (Debian: apt-get install kubernetes-client)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
command -v kubectl >/dev/null 2>&1 || fail "kubectl is required and not installed"
venv=target/kubernetes-validate
[ -x "$venv/bin/kubernetes-validate" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q kubernetes-validate==1.37.0; }
[ -x "$venv/bin/kubernetes-validate" ] || fail "kubernetes-validate is required and not installed"

out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
kubectl kustomize deploy/kubernetes > "$out/all.yaml"
"$venv/bin/kubernetes-validate" --strict --quiet "$out/all.yaml"
python3 - "$out/all.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = sorted(d["kind"] for d in docs)
want = ["ConfigMap", "ConfigMap", "Deployment", "PrometheusRule", "Service", "ServiceMonitor"]
assert kinds == want, f"kinds {kinds}, want {want}"
by = {d["kind"]: d for d in docs}
# ServiceMonitor: a selector and endpoints naming a port the Service has.
sm, svc = by["ServiceMonitor"], by["Service"]
assert sm["apiVersion"] == "monitoring.coreos.com/v1"
assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(), "ServiceMonitor selects the Service"
ports = {p["name"] for p in svc["spec"]["ports"]}
for e in sm["spec"]["endpoints"]:
    assert e["port"] in ports, f"endpoint port {e['port']} not in {ports}"
# PrometheusRule: groups with names, each rule an alert or a record with an expr.
pr = by["PrometheusRule"]
assert pr["apiVersion"] == "monitoring.coreos.com/v1"
groups = pr["spec"]["groups"]
assert groups and all(g.get("name") and g.get("rules") for g in groups)
for g in groups:
    for r in g["rules"]:
        assert ("alert" in r) != ("record" in r) and r.get("expr"), r
alerts = sum(1 for g in groups for r in g["rules"] if "alert" in r)
# The dashboard ConfigMap is picked up by Grafana's sidecar.
dash = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "spanflow-dashboards"][0]
assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
assert all(k.endswith(".json") for k in dash["data"])
# The Deployment mounts the generated config and runs as the non-root user, read-only.
dep = by["Deployment"]["spec"]["template"]["spec"]
c = dep["containers"][0]
assert c["securityContext"]["readOnlyRootFilesystem"] and not c["securityContext"]["allowPrivilegeEscalation"]
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"] and dep["securityContext"]["runAsNonRoot"]
assert c["livenessProbe"]["httpGet"]["path"] == "/-/healthy" and c["readinessProbe"]["httpGet"]["path"] == "/-/ready"
cm = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("spanflow-config-")][0]
assert dep["volumes"][0]["configMap"]["name"] == cm["metadata"]["name"], "the Deployment mounts the generated ConfigMap"
print(f"deploy/kubernetes: {len(docs)} objects, {alerts} alerts in the PrometheusRule, valid")
PY
"$bin" check-config --config.file deploy/kubernetes/spanflow.yml

# The Dockerfile: the binary it copies is the one cargo builds, the flags of its CMD exist,
# and it exposes spanflow's default port.
grep -q '^COPY --from=build /src/target/release/spanflow /usr/bin/spanflow$' Dockerfile || fail "Dockerfile: binary path"
grep -q '^ENTRYPOINT \["/usr/bin/spanflow"\]$' Dockerfile || fail "Dockerfile: entrypoint"
port=$("$bin" --help | sed -n 's/.*\[default: [0-9.]*:\([0-9]*\)\].*/\1/p' | head -1)
[ -n "$port" ] || fail "no default port in spanflow --help"
grep -q "^EXPOSE $port\$" Dockerfile || fail "Dockerfile: EXPOSE is not the default port $port"
help=$("$bin" serve --help)
for flag in $(grep '^CMD' Dockerfile | grep -o -- '--[a-z.-]*'); do
  grep -q -- "$flag" <<<"$help" || fail "Dockerfile: spanflow serve has no $flag"
done
grep -q "rust:$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)-" Dockerfile || fail "Dockerfile: the builder is not the rust-version toolchain"
echo "Dockerfile: binary, flags and port $port agree with spanflow"
