#!/usr/bin/env python3
"""Static checks of the Kubernetes manifests in deploy/k8s (no cluster runs in CI).

Checks: every document parses and has apiVersion, kind and metadata.name; a Deployment's selector matches its
pod labels, its containers have resource requests, and its probes use a named or numbered container port and a
path the server maps (/healthz, /readyz, found in the source); a Service selects a Deployment and each
targetPort is one of that Deployment's container ports; an HPA targets an existing Deployment; ConfigMaps
mounted exist (except the repository's, made from the file with kubectl); and every FEATURESTORE__… variable in
the manifests, the Dockerfile and the compose file names a key of the host configuration (or a `serve` option).

Scale-out rules (docs/scaling.md, "Deploying on Kubernetes"): an HPA on CPU targets a Deployment whose containers
request CPU, and that Deployment leaves spec.replicas to it; no HPA targets ingest or the monitor; ingest's
replicas are at most the partition count its annotation records, and its rolling update never adds a member; the
monitor runs one replica, replaced by Recreate; a PodDisruptionBudget selects a Deployment; every key of the host
configuration in a ConfigMap is a key of the host configuration, and a store configuration naming several nodes (a
Redis Cluster) goes with serve's `pipeline` read strategy.
"""
import glob
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTERNAL_CONFIGMAPS = {"featurestore-repository"}
# Environment variables read by single commands (serve, apply…) rather than by the host configuration.
COMMAND_VARIABLES = {"FEATURESTORE__PROJECT", "FEATURESTORE__SERVING__GRPCPORT", "FEATURESTORE__SERVING__HTTPPORT", "FEATURESTORE__SERVING__APIKEYS"}


def server_paths():
    paths = set()
    for source in glob.glob(os.path.join(ROOT, "src", "**", "*.cs"), recursive=True):
        with open(source, encoding="utf-8") as f:
            paths.update(re.findall(r'MapHealthChecks\("([^"]+)"', f.read()))
    return paths


def config_keys():
    """Every key path of the example host configuration, which lists them all (lower case, ':'-joined)."""
    with open(os.path.join(ROOT, "examples", "fraud", "featurestore.host.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    keys = set()

    def walk(node, path):
        if isinstance(node, dict):
            if path:
                keys.add(path)
            for k, v in node.items():
                walk(v, f"{path}:{k}".lower() if path else str(k).lower())
        else:
            keys.add(path)

    walk(doc, "")
    return keys


def check_env_name(name, where, keys, errors):
    if not name.startswith("FEATURESTORE__") or name in COMMAND_VARIABLES:
        return
    key = name[len("FEATURESTORE__"):].replace("__", ":").lower()
    if key not in keys and not key.startswith("kafka:settings:"):
        errors.append(f"{where}: {name} is not a key of the host configuration (docs/host.md)")


def check_host(host, where, keys, errors):
    """A host configuration's keys are known ones; a store of several nodes (a cluster) is read with `pipeline`."""
    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}:{k}".lower() if path else str(k).lower())
        elif path not in keys and not path.startswith("kafka:settings:"):
            errors.append(f"{where}: {path} is not a key of the host configuration (docs/host.md)")

    walk(host, "")
    configuration = str(((host or {}).get("redis") or {}).get("configuration", ""))
    nodes = [part for part in configuration.split(",") if part and "=" not in part]
    serve = ((host or {}).get("jobs") or {}).get("serve") or {}
    if len(nodes) > 1 and serve.get("readStrategy", "auto") not in ("auto", "pipeline"):
        errors.append(f"{where}: the store names {len(nodes)} nodes (a Redis Cluster) but jobs.serve.readStrategy is neither auto nor pipeline")


def main():
    errors = []
    docs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "k8s", "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc is None:
                    continue
                where = f"{os.path.relpath(path, ROOT)}: {doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
                for field in ("apiVersion", "kind"):
                    if not doc.get(field):
                        errors.append(f"{where}: no {field}")
                if not (doc.get("metadata") or {}).get("name"):
                    errors.append(f"{where}: no metadata.name")
                docs.append((where, doc))
    if not docs:
        errors.append("deploy/k8s: no manifests")

    paths = server_paths()
    keys = config_keys()
    by_kind = {}
    for where, doc in docs:
        by_kind.setdefault(doc.get("kind"), {})[doc["metadata"]["name"]] = (where, doc)

    deployments = by_kind.get("Deployment", {})
    configmaps = set(by_kind.get("ConfigMap", {})) | EXTERNAL_CONFIGMAPS
    claims = set(by_kind.get("PersistentVolumeClaim", {}))
    ports_of = {}
    for name, (where, doc) in deployments.items():
        spec = doc.get("spec") or {}
        selector = ((spec.get("selector") or {}).get("matchLabels")) or {}
        template = spec.get("template") or {}
        labels = ((template.get("metadata") or {}).get("labels")) or {}
        if not selector:
            errors.append(f"{where}: no spec.selector.matchLabels")
        for k, v in selector.items():
            if labels.get(k) != v:
                errors.append(f"{where}: selector {k}={v} does not match the pod labels")
        pod = template.get("spec") or {}
        containers = pod.get("containers") or []
        if not containers:
            errors.append(f"{where}: no containers")
        ports = set()
        for c in containers:
            for p in c.get("ports") or []:
                ports.add(p.get("containerPort"))
                if p.get("name"):
                    ports.add(p["name"])
            if not ((c.get("resources") or {}).get("requests")):
                errors.append(f"{where}: container {c.get('name')} has no resource requests")
            for probe in ("readinessProbe", "livenessProbe"):
                get = ((c.get(probe) or {}).get("httpGet"))
                if not get:
                    errors.append(f"{where}: container {c.get('name')} has no {probe} over HTTP")
                    continue
                if get.get("path") not in paths:
                    errors.append(f"{where}: {probe} path {get.get('path')} is not mapped by the server ({sorted(paths)})")
                if get.get("port") not in ports:
                    errors.append(f"{where}: {probe} port {get.get('port')} is not a container port")
            for env in c.get("env") or []:
                check_env_name(env.get("name", ""), where, keys, errors)
        for volume in pod.get("volumes") or []:
            if "configMap" in volume and volume["configMap"].get("name") not in configmaps:
                errors.append(f"{where}: volume {volume['name']} mounts unknown ConfigMap {volume['configMap'].get('name')}")
            if "persistentVolumeClaim" in volume and volume["persistentVolumeClaim"].get("claimName") not in claims:
                errors.append(f"{where}: volume {volume['name']} claims unknown PersistentVolumeClaim")
        ports_of[name] = (labels, ports)

    for kind in ("ingest", "offline", "serve", "monitor"):
        if f"featurestore-{kind}" not in deployments:
            errors.append(f"deploy/k8s: no Deployment featurestore-{kind}")

    for name, (where, doc) in by_kind.get("Service", {}).items():
        selector = (doc.get("spec") or {}).get("selector") or {}
        selected = [d for d, (labels, _) in ports_of.items() if selector and all(labels.get(k) == v for k, v in selector.items())]
        if not selected:
            errors.append(f"{where}: selector {selector} matches no Deployment")
        for port in (doc.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for d in selected:
                if target not in ports_of[d][1]:
                    errors.append(f"{where}: targetPort {target} is not a container port of {d}")

    for name, (where, doc) in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = (doc.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment" or ref.get("name") not in deployments:
            errors.append(f"{where}: scaleTargetRef {ref} is not a Deployment here")
            continue
        if ref["name"] in ("featurestore-ingest", "featurestore-monitor"):
            errors.append(f"{where}: {ref['name']} runs a fixed number of replicas (ingest: at most its partitions; the monitor: one)")
        target = deployments[ref["name"]][1]
        if "replicas" in (target.get("spec") or {}):
            errors.append(f"{where}: {ref['name']} sets spec.replicas, which every apply would reset under its HPA")
        for metric in (doc.get("spec") or {}).get("metrics") or []:
            if (metric.get("resource") or {}).get("name") == "cpu":
                for c in ((target["spec"].get("template") or {}).get("spec") or {}).get("containers") or []:
                    if "cpu" not in ((c.get("resources") or {}).get("requests") or {}):
                        errors.append(f"{where}: scales on CPU but container {c.get('name')} of {ref['name']} requests no cpu")

    if "featurestore-ingest" in deployments:
        where, doc = deployments["featurestore-ingest"]
        spec = doc.get("spec") or {}
        partitions = ((doc.get("metadata") or {}).get("annotations") or {}).get("featurestore.io/source-partitions")
        if partitions is None or not str(partitions).isdigit():
            errors.append(f"{where}: no featurestore.io/source-partitions annotation (the partition count the replicas are bounded by)")
        elif spec.get("replicas", 1) > int(partitions):
            errors.append(f"{where}: {spec.get('replicas')} replicas for {partitions} partitions (members beyond the partitions stay idle)")
        rolling = ((spec.get("strategy") or {}).get("rollingUpdate")) or {}
        if (spec.get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate" and rolling.get("maxSurge") != 0:
            errors.append(f"{where}: a rolling update with a surge adds a member to the group (maxSurge: 0)")

    if "featurestore-monitor" in deployments:
        where, doc = deployments["featurestore-monitor"]
        spec = doc.get("spec") or {}
        if spec.get("replicas", 1) != 1 or (spec.get("strategy") or {}).get("type") != "Recreate":
            errors.append(f"{where}: the monitor keeps its windows in memory: replicas 1 and strategy Recreate")

    for name, (where, doc) in by_kind.get("PodDisruptionBudget", {}).items():
        selector = (((doc.get("spec") or {}).get("selector")) or {}).get("matchLabels") or {}
        if not selector or not any(all(labels.get(k) == v for k, v in selector.items()) for labels, _ in ports_of.values()):
            errors.append(f"{where}: selector {selector} matches no Deployment")

    for name, (where, doc) in by_kind.get("ConfigMap", {}).items():
        for key, text in (doc.get("data") or {}).items():
            if key.endswith((".yaml", ".yml")):
                try:
                    host = yaml.safe_load(text)
                except yaml.YAMLError as e:
                    errors.append(f"{where}: {key} does not parse: {e}")
                    continue
                if key == "host.yaml":
                    check_host(host, f"{where}: {key}", keys, errors)

    for path in (os.path.join(ROOT, "deploy", "Dockerfile"), os.path.join(ROOT, "docker-compose.kafka.yml")):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.lstrip().startswith("#"):
                    continue
                for name in re.findall(r"\bFEATURESTORE__[A-Z0-9_]+", line):
                    check_env_name(name.rstrip("_"), f"{os.path.relpath(path, ROOT)}:{n}", keys, errors)

    for e in errors:
        print(f"k8s check: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"k8s check: {len(docs)} manifests ok")


if __name__ == "__main__":
    main()
