"""Writes both charts' values.schema.json (strict: additionalProperties false everywhere we
own the shape; verbatim Kubernetes objects — EnvVar, Volume, NetworkPolicyPeer… — are left to
the Kubernetes schema checks). Run: python charts/values_schema.py [--check]
The umbrella's per-service and global schemas are the service chart's, shared via $defs.
"""

import json
import sys
from pathlib import Path

import yaml

CHARTS = Path(__file__).resolve().parent


def obj(props, required=(), extra=False, desc=None):
    d = {"type": "object", "additionalProperties": extra, "properties": props}
    if required:
        d["required"] = list(required)
    if desc:
        d["description"] = desc
    return d


S = {"type": "string"}
B = {"type": "boolean"}
INT = {"type": "integer", "minimum": 0}


def arr(items):
    return {"type": "array", "items": items}


anyobj = {"type": "object"}


def k8sobj(desc):
    return {"type": "object", "description": desc}


# ENV_VAR → a key of a Secret (keys: letters, digits, '-', '_', '.'; never a path).
secretKeys = {
    "type": "object",
    "propertyNames": {"pattern": "^[A-Z_][A-Z0-9_]*$"},
    "additionalProperties": {
        "type": "string",
        "pattern": "^[-._a-zA-Z0-9]+$",
        "not": {"enum": [".", ".."]},
    },
}
qty = {"type": ["string", "integer", "number"], "pattern": "^[0-9.]+(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"}
resources = obj(
    {
        "requests": obj({"cpu": qty, "memory": qty, "ephemeral-storage": qty}),
        "limits": obj({"cpu": qty, "memory": qty, "ephemeral-storage": qty}),
    }
)
image = obj(
    {
        "registry": S,
        "repository": S,
        "tag": S,
        "digest": {"type": "string", "pattern": "^(sha256:[a-f0-9]{64})?$"},
        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
    }
)
imageNoPolicy = obj(
    {
        "registry": S,
        "repository": {"type": "string", "minLength": 1},
        "tag": S,
        "digest": {"type": "string", "pattern": "^(sha256:[a-f0-9]{64})?$"},
    },
    required=["repository"],
)
probe = obj(
    {k: k8sobj(k) for k in ("httpGet", "exec", "tcpSocket", "grpc")}
    | dict.fromkeys(
        (
            "initialDelaySeconds",
            "periodSeconds",
            "timeoutSeconds",
            "successThreshold",
            "failureThreshold",
            "terminationGracePeriodSeconds",
        ),
        INT,
    )
)
envmap = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
}
peers = arr(k8sobj("NetworkPolicyPeer"))
egress_rules = arr(k8sobj("NetworkPolicyEgressRule"))
datastore_common = {
    "bundled": B,
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "existingSecret": S,
    "egress": egress_rules,
}
glob = obj(
    {
        "imageRegistry": S,
        "liveUpdate": {
            "type": "boolean",
            "description": "Tilt live update: writable copy of the app for synced code (dev only).",
        },
        "imageTag": S,
        "imagePullSecrets": arr(obj({"name": S}, ["name"])),
        "environment": {"enum": ["development", "test", "production"]},
        "logLevel": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
        "trustedProxies": {
            "type": "string",
            "pattern": "^[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*$",
            "description": "Addresses/CIDRs whose X-Forwarded-For is believed (comma-separated;"
            " the Ingress controller's pod range). Never '*'.",
        },
        "auth": obj(
            {
                "issuer": {
                    "type": "string",
                    "pattern": "^(https?://[^ ]+/api/users)?$",
                    "description": "The issuer of user-service's tokens as people and clients"
                    ' reach it: the public URL of /api/users ("" = internalURL).',
                },
                "internalURL": {
                    "type": "string",
                    "pattern": "^https?://[^ ]+/api/users$",
                    "description": "user-service's /api/users inside the cluster: JWKS, and the"
                    " token and userinfo endpoints for in-cluster clients (Grafana).",
                },
            }
        ),
        "env": envmap,
        "otel": obj(
            {
                "endpoint": S,
                "resourceAttributes": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
            }
        ),
        "datastores": obj(
            {
                "mongo": obj(datastore_common | {"uriKey": S}),
                "redis": obj(datastore_common | {"host": S, "passwordKey": S}),
                "influx": obj(datastore_common | {"url": S, "org": S, "bucket": S, "tokenKey": S}),
            }
        ),
        "networkPolicy": obj(
            {
                "enabled": B,
                "dnsPeers": peers,
                "ingressControllerPeers": peers,
                "monitoringPeers": peers,
                "telemetryEgress": egress_rules,
            }
        ),
    },
    desc="Settings shared by the umbrella chart and every service (Helm globals).",
)
service = obj(
    {
        "enabled": B,
        "global": glob,
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "prefix": {"type": "string", "pattern": "^(/[A-Za-z0-9._~-]+)*$"},
        "publicPath": S,
        "datastores": arr({"enum": ["mongo", "redis", "influx"]}),
        "upstreams": arr({"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}),
        "internetEgress": B,
        "image": image,
        "imagePullSecrets": arr(obj({"name": S}, ["name"])),
        "replicaCount": INT,
        "autoscaling": obj(
            {
                "enabled": B,
                "minReplicas": {"type": "integer", "minimum": 1},
                "maxReplicas": {"type": "integer", "minimum": 1},
                "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
                "targetMemoryUtilizationPercentage": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                },
                "scaleDownStabilizationSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
            }
        ),
        "pdb": obj({"enabled": B, "maxUnavailable": {"type": ["integer", "string"]}}),
        "rollingUpdate": obj(
            {
                "maxSurge": {"type": ["integer", "string"]},
                "maxUnavailable": {"type": ["integer", "string"]},
            }
        ),
        "resources": resources,
        "webConcurrency": {"type": "integer", "minimum": 1},
        "logLevel": {"enum": ["", "DEBUG", "INFO", "WARNING", "ERROR"]},
        "env": envmap,
        "extraEnv": arr(k8sobj("EnvVar (value or valueFrom)") | {"required": ["name"]}),
        "envFrom": arr(k8sobj("EnvFromSource")),
        "probes": obj({"startup": probe, "liveness": probe, "readiness": probe}),
        "podSecurityContext": k8sobj("PodSecurityContext"),
        "securityContext": k8sobj("SecurityContext"),
        "tmpVolume": obj({"sizeLimit": qty}),
        "extraVolumes": arr(k8sobj("Volume") | {"required": ["name"]}),
        "extraVolumeMounts": arr(k8sobj("VolumeMount") | {"required": ["name", "mountPath"]}),
        "secretFiles": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$"},
            "additionalProperties": obj(
                {
                    "existingSecret": {
                        "type": "string",
                        "pattern": "^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$",
                    },
                    "files": secretKeys,
                    "env": secretKeys,
                },
                required=["existingSecret"],
            ),
        },
        "serviceAccount": obj(
            {
                "create": B,
                "name": S,
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "automountServiceAccountToken": B,
            }
        ),
        "service": obj(
            {
                "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "appProtocol": S,
            }
        ),
        "networkPolicy": obj(
            {
                "enabled": B,
                "extraIngress": arr(k8sobj("NetworkPolicyIngressRule")),
                "extraEgress": egress_rules,
            }
        ),
        "serviceMonitor": obj(
            {
                "enabled": B,
                "interval": S,
                "scrapeTimeout": S,
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        ),
        "podAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "podLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
        "tolerations": arr(k8sobj("Toleration")),
        "affinity": k8sobj("Affinity"),
        "topologySpreadConstraints": {
            "type": ["array", "null"],
            "items": k8sobj("TopologySpreadConstraint"),
        },
        "priorityClassName": S,
        "terminationGracePeriodSeconds": INT,
    }
)
service["$schema"] = "https://json-schema.org/draft/2020-12/schema"
service["title"] = "deepiri-service values"
SERVICE_SCHEMA = json.dumps(service, indent=2) + "\n"
# umbrella
svc_ref = dict(service)
svc_ref = {k: v for k, v in service.items() if k not in ("$schema", "title")}
svc_ref["description"] = (
    "One service (an alias of charts/deepiri-service); see that chart's values.yaml."
)
# One entry per service alias in the umbrella's Chart.yaml (the chart's list of services).
names = [
    d["alias"]
    for d in yaml.safe_load((CHARTS / "deepiri" / "Chart.yaml").read_text())["dependencies"]
]
persist = obj({"size": qty, "storageClass": S})


def store(extra=None):
    if extra is None:
        extra = {}
    return obj({"image": imageNoPolicy, "persistence": persist, "resources": resources} | extra)


def comp(extra=None):
    if extra is None:
        extra = {}
    return obj({"enabled": B, "image": imageNoPolicy, "resources": resources} | extra)


umb = obj(
    {
        "global": {"$ref": "#/$defs/global"},
        **{n: {"$ref": "#/$defs/service"} for n in names},
        "ingress": obj(
            {
                "enabled": B,
                "className": S,
                "host": S,
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "tls": arr(k8sobj("IngressTLS")),
            }
        ),
        "gatewayAPI": obj(
            {
                "enabled": B,
                "gateway": obj(
                    {
                        "create": B,
                        "className": S,
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    }
                ),
                "parentRefs": arr(k8sobj("ParentReference") | {"required": ["name"]}),
                "hostnames": arr(S),
                "websocketTimeouts": obj({"request": S, "backendRequest": S}),
            }
        ),
        "mongodb": store(),
        "redis": store(),
        "influxdb": store({"retention": S}),
        "observability": obj(
            {
                "dashboards": obj(
                    {
                        "enabled": B,
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    }
                ),
                "prometheusRule": obj(
                    {
                        "enabled": B,
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    }
                ),
                "otelCollector": comp({"tracesEndpoint": S, "extraEgress": egress_rules}),
                "jaeger": comp(),
                "prometheus": comp({"retention": S}),
                "grafana": comp({"adminExistingSecret": S, "rootURL": S}),
            }
        ),
        "tests": obj({"enabled": B, "ingressURL": S, "fail": B}),
        "identity": obj(
            {
                "generateSecret": B,
                "clients": arr(
                    obj(
                        {
                            "client_id": {"type": "string", "minLength": 1},
                            "name": S,
                            "redirect_uris": arr(S),
                            "grant_types": arr(S),
                            "scope": S,
                            "first_party": B,
                        },
                        ["client_id"],
                    )
                ),
            }
        ),
    }
)
svc_ref["properties"] = dict(svc_ref["properties"])
svc_ref["properties"]["global"] = {"$ref": "#/$defs/global"}
umb["$defs"] = {"global": glob, "service": svc_ref}
umb["$schema"] = "https://json-schema.org/draft/2020-12/schema"
umb["title"] = "deepiri umbrella chart values"
UMBRELLA_SCHEMA = json.dumps(umb, indent=2) + "\n"
OUTPUTS = {
    CHARTS / "deepiri" / "values.schema.json": UMBRELLA_SCHEMA,
    CHARTS / "deepiri" / "charts" / "deepiri-service" / "values.schema.json": SERVICE_SCHEMA,
}

if __name__ == "__main__":
    stale = [p for p, text in OUTPUTS.items() if not p.exists() or p.read_text() != text]
    if "--check" in sys.argv:
        for p in stale:
            print(f"stale: {p} (run python charts/values_schema.py)")
        sys.exit(1 if stale else 0)
    for p, text in OUTPUTS.items():
        p.write_text(text)
