#!/usr/bin/env python3
"""Static checks of the compose file and the Dockerfiles it builds (no Docker engine runs in CI).

Checks: the file parses; every service has an image or a build whose context and Dockerfile exist;
depends_on names existing services with valid conditions; services depended on as healthy have a
health check; named volumes are declared; published ports are unique; each Dockerfile has a FROM,
an ENTRYPOINT or CMD, and COPY sources that exist in the build context.
"""
import os
import sys

import yaml


def fail(errors):
    for e in errors:
        print(f"compose check: {e}", file=sys.stderr)
    sys.exit(1)


def check_dockerfile(path, context, errors):
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
    instructions = [l.split(None, 1)[0].upper() for l in lines]
    if not instructions or instructions[0] not in ("FROM", "ARG"):
        errors.append(f"{path}: must start with FROM")
    if "ENTRYPOINT" not in instructions and "CMD" not in instructions:
        errors.append(f"{path}: no ENTRYPOINT or CMD")
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if parts[0].upper() == "COPY" and not any(p.startswith("--from") for p in parts):
            for src in parts[1:-1]:
                if not os.path.exists(os.path.join(context, src)):
                    errors.append(f"{path}: COPY source '{src}' does not exist in context {context}")


def main(compose_path):
    root = os.path.dirname(os.path.abspath(compose_path))
    with open(compose_path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    errors = []
    services = doc.get("services") or {}
    if not services:
        fail([f"{compose_path}: no services"])
    declared_volumes = set((doc.get("volumes") or {}).keys())
    ports = {}
    healthy_needed = set()
    for name, svc in services.items():
        if "image" not in svc and "build" not in svc:
            errors.append(f"service {name}: neither image nor build")
        build = svc.get("build")
        if build:
            context = os.path.join(root, build.get("context", ".") if isinstance(build, dict) else build)
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
            if not os.path.isdir(context):
                errors.append(f"service {name}: build context {context} missing")
            elif not os.path.isfile(dockerfile):
                errors.append(f"service {name}: Dockerfile {dockerfile} missing")
            else:
                check_dockerfile(dockerfile, context, errors)
        deps = svc.get("depends_on") or {}
        items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
        for dep, spec in items:
            if dep not in services:
                errors.append(f"service {name}: depends_on unknown service {dep}")
            cond = (spec or {}).get("condition", "service_started")
            if cond not in ("service_started", "service_healthy", "service_completed_successfully"):
                errors.append(f"service {name}: unknown depends_on condition {cond}")
            if cond == "service_healthy":
                healthy_needed.add(dep)
        for vol in svc.get("volumes") or []:
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if source and not source.startswith((".", "/", "$", "~")) and source not in declared_volumes:
                errors.append(f"service {name}: volume {source} not declared at top level")
        for port in svc.get("ports") or []:
            host = str(port).split(":")[0]
            if host in ports:
                errors.append(f"service {name}: host port {host} also published by {ports[host]}")
            ports[host] = name
    for dep in healthy_needed:
        if dep in services and "healthcheck" not in services[dep]:
            errors.append(f"service {dep}: others wait for it to be healthy but it has no healthcheck")
    if errors:
        fail(errors)
    print(f"compose check: {compose_path}: {len(services)} services, {len(declared_volumes)} volumes, ok")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docker-compose.kafka.yml")
