#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Validates Kubernetes manifests offline: multi-document YAML on stdin, exit 0 when every document is valid.

Usage: /usr/bin/python3 deploy/check_manifests.py < manifests.yaml
Needs the Debian packages python3-kubernetes and python3-yaml (they install into /usr/bin/python3's path, not
into a pyenv or venv interpreter's).

Why not just kubectl or the client's own deserializer:
- `kubectl apply/create --dry-run=client` still asks an API server for discovery, and Debian's kubectl is 1.20.
- kubernetes.client.ApiClient().deserialize() silently DROPS unknown fields and coerces primitives (str(8000),
  bool("no") is True), so a misspelt `readinessProbe` or an unquoted annotation would pass it.

So this walks each document against the typed models of python3-kubernetes (openapi_types + attribute_map, the
same schema the API server publishes, at the client's Kubernetes version) strictly:
  1. apiVersion/kind must name a model and an API group the client knows (apps/v1 Deployment -> V1Deployment,
     served by AppsV1Api);
  2. every field must exist in the model (unknown field = error, as `kubectl --validate=strict` does);
  3. every value must have the schema type exactly (int is not bool, str is not int, map<string,string> values
     are strings, IntOrString fields take int or str);
  4. each object is then built with the client's model classes, whose setters reject missing required fields
     (a container without `name`, a pod spec without `containers`) and out-of-enum values;
  5. the checks the API server adds on top of the schema for what gale renders: DNS names, label syntax, port
     names, resource quantities, env names, Deployment selector vs template labels, restartPolicy per kind;
  6. cross-document references: envFrom ConfigMaps/Secrets, Service selectors and named targetPorts;
  7. gale's shutdown and start-up rules, for containers that gale configures (GALE_* variables): the readiness
     probe fails within the drain delay (periodSeconds x failureThreshold + timeoutSeconds <= GALE_DRAIN_DELAY),
     terminationGracePeriodSeconds covers drain delay + graceful timeout + the shutdown webhooks, and a pod that
     waits for migrations (GALE_CHECK_MIGRATIONS) does so on a database server, not on a SQLite file in its own
     volume that no Job can reach (DATABASE_ENGINE / DATABASE_URL, or, for a service whose migrations are in a
     database it configures itself such as a Django project's DATABASES, the engine its pod template names in the
     annotation gale.dev/migrations-database);
  8. KEDA's custom resources (keda.sh/v1alpha1 ScaledObject and TriggerAuthentication), which the client has no
     models for, against the schema below (KEDA 2.x's CRDs, the fields gale renders and their neighbours) as
     strictly as 2-4, with the metadata of the rabbitmq and redis triggers (a misspelt key is silently ignored by
     KEDA); their references (scaleTargetRef -> a Deployment, authenticationRef -> a TriggerAuthentication,
     secretTargetRef -> a Secret and its key); and a Deployment that a ScaledObject scales must not set replicas
     (every `kubectl apply` would reset what the autoscaler chose).
Every problem is printed as `document N (Kind name): path: message`; exit 1 if any, 2 if the YAML does not parse.
"""

import re
import sys

import yaml
import kubernetes.client
from kubernetes.client import models

INT_OR_STRING_ATTRS = {"port", "target_port", "max_surge", "max_unavailable", "min_available"}
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
QUANTITY = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
GALE_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?)(ms|s|m|h)?$")  # gale's ParseDuration; a bare number is seconds
DURATION_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}
WEBHOOK_BUDGET_SECONDS = 2  # shutdown waits at most this for the last lifecycle webhooks
# Kubernetes' defaults for fields left out.
DEFAULT_PROBE = {"periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3}
DEFAULT_GRACE_SECONDS = 30


# KEDA 2.x: (apiVersion, kind) -> the spec's schema. A schema is a type string of the client ("str", "int", "bool",
# "dict(str, str)", "V2beta2HorizontalPodAutoscalerBehavior"...), a dict of field -> schema (an object; fields in
# REQUIRED_FIELDS must be present), or a one-element list [schema] (a list of it). "object" is free-form.
KEDA_GROUP_VERSION = "keda.sh/v1alpha1"
KEDA_TRIGGER = {
    "type": "str", "name": "str", "metadata": "dict(str, str)", "metricType": "str", "useCachedMetrics": "bool",
    "authenticationRef": {"name": "str", "kind": "str"},
}
KEDA_SPECS = {
    "ScaledObject": {
        "scaleTargetRef": {"apiVersion": "str", "kind": "str", "name": "str", "envSourceContainerName": "str"},
        "pollingInterval": "int", "cooldownPeriod": "int", "initialCooldownPeriod": "int", "idleReplicaCount": "int",
        "minReplicaCount": "int", "maxReplicaCount": "int",
        "fallback": {"failureThreshold": "int", "replicas": "int"},
        "advanced": {"restoreToOriginalReplicaCount": "bool",
                     "horizontalPodAutoscalerConfig": {"name": "str",
                                                       "behavior": "V2beta2HorizontalPodAutoscalerBehavior"},
                     "scalingModifiers": "object"},
        "triggers": [KEDA_TRIGGER],
    },
    "TriggerAuthentication": {
        "secretTargetRef": [{"parameter": "str", "name": "str", "key": "str"}],
        "configMapTargetRef": [{"parameter": "str", "name": "str", "key": "str"}],
        "env": [{"parameter": "str", "name": "str", "containerName": "str"}],
        "podIdentity": "object", "hashiCorpVault": "object", "azureKeyVault": "object", "awsSecretManager": "object",
    },
}
REQUIRED_FIELDS = {"scaleTargetRef", "triggers", "type", "parameter", "key"}  # and every ref's "name"
# The triggers' metadata keys (KEDA's scaler docs), and what each needs. Connection details may come from the
# TriggerAuthentication instead (its parameters).
KEDA_TRIGGER_KEYS = {
    "rabbitmq": {"host", "hostFromEnv", "protocol", "mode", "value", "activationValue", "queueName", "vhostName",
                 "useRegex", "excludeUnacknowledged", "pageSize", "operation", "timeout", "unsafeSsl"},
    "redis": {"address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv", "username",
              "usernameFromEnv", "password", "passwordFromEnv", "listName", "listLength", "activationListLength",
              "enableTLS", "unsafeSsl", "databaseIndex"},
}
KEDA_TRIGGER_REQUIRED = {"rabbitmq": ("queueName", "mode", "value"), "redis": ("listName", "listLength")}
KEDA_TRIGGER_CONNECTION = {"rabbitmq": {"host", "hostFromEnv"}, "redis": {"address", "addressFromEnv", "host",
                                                                          "hostFromEnv"}}


class Checker:
    def __init__(self):
        self.api_client = kubernetes.client.ApiClient()
        self.errors = []
        self.where = ""
        self.kind = ""

    def error(self, path, message):
        self.errors.append(f"{self.where}: {path or '<root>'}: {message}")

    # --- 1-4: the typed schema ---------------------------------------------------------------------------------

    def check_value(self, value, type_name, path, attr=""):
        """Checks value against a type string of the client (`str`, `list[V1Container]`, `dict(str, str)`, ...).
        Returns True when no error was found at or below path."""
        if value is None:
            return True  # an absent optional field; required ones are caught by the model constructors
        if type_name.startswith("list["):
            if not isinstance(value, list):
                self.error(path, f"expected a list, got {type(value).__name__} {value!r}")
                return False
            inner = type_name[5:-1]
            return all([self.check_value(v, inner, f"{path}[{i}]") for i, v in enumerate(value)])
        if type_name.startswith("dict("):
            if not isinstance(value, dict):
                self.error(path, f"expected a map, got {type(value).__name__} {value!r}")
                return False
            inner = re.match(r"dict\(([^,]*), (.*)\)", type_name).group(2)
            ok = True
            for k, v in value.items():
                if not isinstance(k, str):
                    self.error(path, f"map key {k!r} must be a string")
                    ok = False
                ok = self.check_value(v, inner, f"{path}.{k}") and ok
            return ok
        if type_name == "str":
            return self.expect(isinstance(value, str), value, "a string", path)
        if type_name == "int":
            return self.expect(isinstance(value, int) and not isinstance(value, bool), value, "an integer", path)
        if type_name == "float":
            return self.expect(isinstance(value, (int, float)) and not isinstance(value, bool), value, "a number",
                               path)
        if type_name == "bool":
            return self.expect(isinstance(value, bool), value, "a boolean", path)
        if type_name in ("datetime", "date"):
            return True
        if type_name == "object":
            if attr in INT_OR_STRING_ATTRS:
                ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value)
                return self.expect(ok, value, "an integer or a non-empty string (IntOrString)", path)
            return True  # free-form (RawExtension, JSON)
        klass = getattr(models, type_name, None)
        if klass is None:
            self.error(path, f"schema type {type_name} unknown to the client")
            return False
        return self.check_model(value, klass, path)

    def expect(self, ok, value, what, path):
        if not ok:
            self.error(path, f"expected {what}, got {type(value).__name__} {value!r}")
        return bool(ok)

    def check_model(self, value, klass, path):
        if not isinstance(value, dict):
            self.error(path, f"expected an object ({klass.__name__}), got {type(value).__name__} {value!r}")
            return False
        by_json = {json_name: attr for attr, json_name in klass.attribute_map.items()}
        ok = True
        for key, v in value.items():
            sub = f"{path}.{key}" if path else str(key)
            attr = by_json.get(key)
            if attr is None:
                self.error(sub, f"unknown field \"{key}\" in {klass.__name__}")
                ok = False
                continue
            ok = self.check_value(v, klass.openapi_types[attr], sub, attr) and ok
        if ok:
            # Build the object with the client's models: their setters raise ValueError on a missing required
            # field or a value outside an enum. Only where the subtree is otherwise clean, so the message points
            # at the deepest object that is wrong.
            try:
                self.api_client._ApiClient__deserialize(value, klass)  # noqa: SLF001 -- no public per-type entry
            except (ValueError, TypeError) as e:
                self.error(path, f"{klass.__name__}: {e}")
                ok = False
        return ok

    def model_for(self, api_version, kind):
        """V1Deployment for ('apps/v1', 'Deployment'), if the client's AppsV1Api serves that kind."""
        group, _, version = api_version.rpartition("/")
        cls = getattr(models, version.capitalize() + kind, None)
        api_name = "".join(p.capitalize() for p in group.split(".")[0].split("-")) + version.capitalize() + "Api"
        if group == "":
            api_name = "Core" + version.capitalize() + "Api"
        api = getattr(kubernetes.client, api_name, None)
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()
        if cls is None or api is None or not (hasattr(api, f"create_namespaced_{snake}") or
                                              hasattr(api, f"create_{snake}")):
            return None
        return cls

    # --- 8: KEDA's custom resources -----------------------------------------------------------------------------

    def check_crd_value(self, value, schema, path):
        if isinstance(schema, str):
            return self.check_value(value, schema, path)
        if isinstance(schema, list):
            if not isinstance(value, list):
                self.error(path, f"expected a list, got {type(value).__name__} {value!r}")
                return False
            return all([self.check_crd_value(v, schema[0], f"{path}[{i}]") for i, v in enumerate(value)])
        if not isinstance(value, dict):
            self.error(path, f"expected an object, got {type(value).__name__} {value!r}")
            return False
        ok = True
        for key, v in value.items():
            sub = f"{path}.{key}"
            if key not in schema:
                owner = path.rpartition(".")[2].split("[")[0] or "spec"
                self.error(sub, f"unknown field \"{key}\" in {self.kind}{owner[0].upper()}{owner[1:]}")
                ok = False
                continue
            ok = self.check_crd_value(v, schema[key], sub) and ok
        for key in schema:
            if (key in REQUIRED_FIELDS or (key == "name" and path.endswith(("Ref", "]")) and
                                           "triggers" not in path.rpartition(".")[2])) and key not in value:
                self.error(f"{path}.{key}", "required")
                ok = False
        return ok

    def check_keda(self, doc):
        kind = doc["kind"]
        self.kind = kind
        for key in doc:
            if key not in ("apiVersion", "kind", "metadata", "spec", "status"):
                self.error(key, f"unknown field \"{key}\" in {kind}")
        self.check_value(doc.get("metadata"), "V1ObjectMeta", "metadata")
        self.check_semantics(doc)
        spec = doc.get("spec")
        if spec is None:
            self.error("spec", "required")
            return
        # The error names the CRD's type: ScaledObjectSpec, ScaledObjectScaleTargetRef...
        self.check_crd_value(spec, KEDA_SPECS[kind], "spec")
        if kind != "ScaledObject" or not isinstance(spec, dict):
            return
        triggers = spec.get("triggers")
        if isinstance(triggers, list) and not triggers:
            self.error("spec.triggers", "needs at least one trigger")
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if isinstance(lo, int) and isinstance(hi, int) and not 0 <= lo <= hi:
            self.error("spec.maxReplicaCount", f"minReplicaCount {lo} and maxReplicaCount {hi}: need 0 <= min <= max")
        for i, t in enumerate(triggers if isinstance(triggers, list) else []):
            if not isinstance(t, dict):
                continue
            tp = f"spec.triggers[{i}]"
            ttype, meta = t.get("type"), t.get("metadata")
            if ttype not in KEDA_TRIGGER_KEYS:
                self.error(f"{tp}.type", f"trigger type {ttype!r}: this checker knows "
                                         f"{', '.join(sorted(KEDA_TRIGGER_KEYS))}")
                continue
            if not isinstance(meta, dict):
                self.error(f"{tp}.metadata", "required")
                continue
            for key in meta:
                if key not in KEDA_TRIGGER_KEYS[ttype]:
                    self.error(f"{tp}.metadata.{key}", f"unknown key of the {ttype} trigger (KEDA ignores it)")
            for key in KEDA_TRIGGER_REQUIRED[ttype]:
                if key not in meta:
                    self.error(f"{tp}.metadata", f"the {ttype} trigger needs {key}")
            if ttype == "rabbitmq" and meta.get("mode") not in (None, "QueueLength", "MessageRate"):
                self.error(f"{tp}.metadata.mode", f"{meta['mode']!r} is not QueueLength or MessageRate")
            for key in ("value", "listLength", "databaseIndex"):
                v = meta.get(key)
                if isinstance(v, str) and not re.match(r"^[0-9]+(\.[0-9]+)?$", v):
                    self.error(f"{tp}.metadata.{key}", f"{v!r} is not a number")
            if not KEDA_TRIGGER_CONNECTION[ttype] & set(meta) and not t.get("authenticationRef"):
                self.error(f"{tp}.metadata", f"the {ttype} trigger names no broker (metadata "
                                             f"{' or '.join(sorted(KEDA_TRIGGER_CONNECTION[ttype]))}, or an "
                                             f"authenticationRef)")

    def check_keda_references(self, docs):
        by_kind = {}
        for _, d in docs:
            by_kind.setdefault(d.get("kind"), {})[(d.get("metadata") or {}).get("name")] = d
        for index, doc in docs:
            self.where = describe(index, doc)
            spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
            if doc.get("apiVersion") != KEDA_GROUP_VERSION:
                continue
            if doc.get("kind") == "ScaledObject":
                ref = spec.get("scaleTargetRef") if isinstance(spec.get("scaleTargetRef"), dict) else {}
                target_kind = ref.get("kind") or "Deployment"
                target = by_kind.get(target_kind, {}).get(ref.get("name"))
                if ref.get("name") and target is None:
                    self.error("spec.scaleTargetRef",
                               f"scaleTargetRef: no {target_kind} named {ref.get('name')!r} in these manifests")
                elif target is not None and "replicas" in (target.get("spec") or {}):
                    self.where = describe(next(i for i, d in docs if d is target), target)
                    self.error("spec.replicas", f"spec.replicas: set on a {target_kind} that ScaledObject "
                                                f"{(doc.get('metadata') or {}).get('name')} scales: every "
                                                f"`kubectl apply` resets what the autoscaler chose; leave it out")
                    self.where = describe(index, doc)
                for i, t in enumerate(spec.get("triggers") or []):
                    auth = (t.get("authenticationRef") or {}) if isinstance(t, dict) else {}
                    if auth.get("name") and (auth.get("kind") or "TriggerAuthentication") == "TriggerAuthentication" \
                            and auth["name"] not in by_kind.get("TriggerAuthentication", {}):
                        self.error(f"spec.triggers[{i}].authenticationRef",
                                   f"no TriggerAuthentication named {auth['name']!r} in these manifests")
            if doc.get("kind") == "TriggerAuthentication":
                for i, ref in enumerate(spec.get("secretTargetRef") or []):
                    if not isinstance(ref, dict):
                        continue
                    secret = by_kind.get("Secret", {}).get(ref.get("name"))
                    path = f"spec.secretTargetRef[{i}]"
                    if secret is None:
                        self.error(path, f"no Secret named {ref.get('name')!r} in these manifests")
                    elif ref.get("key") not in {**(secret.get("data") or {}), **(secret.get("stringData") or {})}:
                        self.error(f"{path}.key", f"Secret {ref.get('name')!r} has no key {ref.get('key')!r}")

    # --- 5: what the API server checks beyond the schema -------------------------------------------------------

    def check_semantics(self, doc):
        kind = doc.get("kind")
        meta = doc.get("metadata") or {}
        name = meta.get("name")
        if not name:
            self.error("metadata.name", "required")
        elif kind == "Service" and not DNS1035_LABEL.match(name):
            self.error("metadata.name", f"{name!r} is not a DNS-1035 label (Service names start with a letter)")
        elif not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            self.error("metadata.name", f"{name!r} is not a DNS-1123 subdomain")
        if meta.get("namespace") and not DNS1123_LABEL.match(meta["namespace"]):
            self.error("metadata.namespace", f"{meta['namespace']!r} is not a DNS-1123 label")
        self.check_labels(meta.get("labels"), "metadata.labels")
        spec = doc.get("spec") or {}
        if kind in ("Deployment", "Job"):
            template = spec.get("template") or {}
            self.check_labels((template.get("metadata") or {}).get("labels"), "spec.template.metadata.labels")
            pod = template.get("spec") or {}
            restart = pod.get("restartPolicy")
            if kind == "Deployment":
                selector = (spec.get("selector") or {}).get("matchLabels") or {}
                labels = (template.get("metadata") or {}).get("labels") or {}
                if not selector:
                    self.error("spec.selector.matchLabels", "required (apps/v1)")
                for k, v in selector.items():
                    if labels.get(k) != v:
                        self.error("spec.selector", f"selector {k}={v} does not match the template labels")
                if restart not in (None, "Always"):
                    self.error("spec.template.spec.restartPolicy", f"{restart!r}: a Deployment allows only Always")
            elif restart not in ("Never", "OnFailure"):
                self.error("spec.template.spec.restartPolicy", f"{restart!r}: a Job needs Never or OnFailure")
            self.check_pod(pod, "spec.template.spec")
        if kind == "Service":
            for i, p in enumerate(spec.get("ports") or []):
                if len(spec["ports"]) > 1 and not p.get("name"):
                    self.error(f"spec.ports[{i}].name", "required when a Service has more than one port")
                if not (isinstance(p.get("port"), int) and 0 < p["port"] < 65536):
                    self.error(f"spec.ports[{i}].port", f"{p.get('port')!r} is not a port number")

    def check_labels(self, labels, path):
        for k, v in (labels or {}).items():
            key_name = str(k).rpartition("/")[2]
            if not LABEL_NAME.match(key_name) or len(key_name) > 63:
                self.error(f"{path}.{k}", "invalid label key")
            if not isinstance(v, str) or not LABEL_VALUE.match(v) or len(v) > 63:
                self.error(f"{path}.{k}", f"invalid label value {v!r}")

    def check_pod(self, pod, path):
        containers = (pod.get("containers") or []) + (pod.get("initContainers") or [])
        for i, c in enumerate(containers):
            cp = f"{path}.containers[{i}]"
            if c.get("name") and not DNS1123_LABEL.match(c["name"]):
                self.error(f"{cp}.name", f"{c['name']!r} is not a DNS-1123 label")
            port_names = set()
            for j, p in enumerate(c.get("ports") or []):
                n = p.get("name")
                if n is not None:
                    if not IANA_SVC_NAME.match(n) or not re.search("[a-z]", n) or "--" in n:
                        self.error(f"{cp}.ports[{j}].name", f"{n!r} is not an IANA service name (<= 15 chars)")
                    port_names.add(n)
                if not (isinstance(p.get("containerPort"), int) and 0 < p["containerPort"] < 65536):
                    self.error(f"{cp}.ports[{j}].containerPort", f"{p.get('containerPort')!r} is not a port")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if isinstance(port, str) and port not in port_names:
                    self.error(f"{cp}.{probe}.httpGet.port", f"names no port of the container: {port!r}")
                pth = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
                if isinstance(pth, str) and not pth.startswith("/"):
                    self.error(f"{cp}.{probe}.httpGet.path", f"{pth!r} must start with /")
            for section in ("requests", "limits"):
                for res, q in ((c.get("resources") or {}).get(section) or {}).items():
                    if not isinstance(q, str) or not QUANTITY.match(q):
                        self.error(f"{cp}.resources.{section}.{res}", f"{q!r} is not a quantity")
            for j, e in enumerate(c.get("env") or []):
                if isinstance(e.get("name"), str) and not ENV_NAME.match(e["name"]):
                    self.error(f"{cp}.env[{j}].name", f"{e['name']!r} is not a valid variable name")

    # --- 6: references between documents -----------------------------------------------------------------------

    def check_references(self, docs):
        names = {(d.get("kind"), (d.get("metadata") or {}).get("name")) for _, d in docs}
        pods = []
        for index, doc in docs:
            if doc.get("kind") not in ("Deployment", "Job"):
                continue
            self.where = describe(index, doc)
            template = (doc.get("spec") or {}).get("template") or {}
            pod = template.get("spec") or {}
            pods.append(((template.get("metadata") or {}).get("labels") or {}, pod))
            for i, c in enumerate(pod.get("containers") or []):
                for j, ref in enumerate(c.get("envFrom") or []):
                    for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                        r = ref.get(key)
                        if r and not r.get("optional") and (kind, r.get("name")) not in names:
                            self.error(f"spec.template.spec.containers[{i}].envFrom[{j}].{key}",
                                       f"no {kind} named {r.get('name')!r} in these manifests")
        for index, doc in docs:
            if doc.get("kind") != "Service":
                continue
            self.where = describe(index, doc)
            selector = (doc.get("spec") or {}).get("selector") or {}
            selected = [pod for labels, pod in pods if all(labels.get(k) == v for k, v in selector.items())]
            if selector and not selected:
                self.error("spec.selector", f"{selector} selects no pod template in these manifests")
            for i, p in enumerate((doc.get("spec") or {}).get("ports") or []):
                tp = p.get("targetPort")
                if isinstance(tp, str) and selected and not any(
                        tp == port.get("name") for pod in selected for c in pod.get("containers") or []
                        for port in c.get("ports") or []):
                    self.error(f"spec.ports[{i}].targetPort", f"no selected container has a port named {tp!r}")

    # --- 7: gale's own rules -------------------------------------------------------------------------------------

    def check_gale(self, docs):
        config_maps = {(d.get("metadata") or {}).get("name"): d.get("data") or {}
                       for _, d in docs if d.get("kind") == "ConfigMap"}
        for index, doc in docs:
            if doc.get("kind") not in ("Deployment", "Job"):
                continue
            self.where = describe(index, doc)
            template = (doc.get("spec") or {}).get("template") or {}
            pod = template.get("spec") or {}
            own_database = ((template.get("metadata") or {}).get("annotations") or {}).get(
                "gale.dev/migrations-database")
            for i, c in enumerate(pod.get("containers") or []):
                env = {e.get("name"): e.get("value") for e in c.get("env") or [] if isinstance(e, dict)}
                if not any(isinstance(n, str) and n.startswith("GALE_") for n in env):
                    continue  # not a gale container
                # What the process sees: env wins over envFrom's ConfigMaps (Secrets are not read here).
                seen = {}
                for ref in c.get("envFrom") or []:
                    seen.update(config_maps.get((ref.get("configMapRef") or {}).get("name"), {}))
                seen.update(env)
                cp = f"spec.template.spec.containers[{i}]"
                self.check_drain(pod, c, seen, cp)
                waits = str(seen.get("GALE_CHECK_MIGRATIONS", "")).lower() in ("true", "1", "yes", "on")
                if waits and own_database is not None:
                    if not isinstance(own_database, str) or re.search(r"sqlite3?$|spatialite$", own_database):
                        self.error("spec.template.metadata.annotations",
                                   f"GALE_CHECK_MIGRATIONS waits for migrations in gale.dev/migrations-database="
                                   f"{own_database!r}, a file in this pod's own volume: a Job's migrations never "
                                   f"reach it")
                elif waits:
                    engine = seen.get("DATABASE_ENGINE") or ""
                    url = seen.get("DATABASE_URL") or ""
                    if not url.lower().startswith(("postgresql://", "postgres://")) and engine.lower() != "postgresql":
                        shown = engine or "unset, i.e. sqlite"
                        self.error(f"{cp}.env", f"GALE_CHECK_MIGRATIONS waits for migrations in DATABASE_ENGINE="
                                   f"{shown}, a file in this pod's own volume: a Job's migrations never reach it")

    def check_drain(self, pod, c, env, cp):
        drain = self.duration(env, "GALE_DRAIN_DELAY", cp)
        graceful = self.duration(env, "GALE_GRACEFUL_TIMEOUT", cp)
        ready = c.get("readinessProbe")
        if drain is not None and ready is not None:
            t = {k: ready.get(k, v) for k, v in DEFAULT_PROBE.items()}
            if all(isinstance(v, int) for v in t.values()):
                total = t["periodSeconds"] * t["failureThreshold"] + t["timeoutSeconds"]
                if total > drain:
                    self.error(f"{cp}.readinessProbe",
                               f"readinessProbe: periodSeconds {t['periodSeconds']} x failureThreshold "
                               f"{t['failureThreshold']} + timeoutSeconds {t['timeoutSeconds']} = {total} s exceeds "
                               f"the drain delay (GALE_DRAIN_DELAY {env['GALE_DRAIN_DELAY']}): endpoints would "
                               f"still route to the pod after it stops accepting")
        if drain is not None and graceful is not None:
            grace = pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
            if isinstance(grace, int) and grace < drain + graceful + WEBHOOK_BUDGET_SECONDS:
                self.error("spec.template.spec.terminationGracePeriodSeconds",
                           f"terminationGracePeriodSeconds: {grace} is shorter than GALE_DRAIN_DELAY "
                           f"{env['GALE_DRAIN_DELAY']} + GALE_GRACEFUL_TIMEOUT {env['GALE_GRACEFUL_TIMEOUT']} "
                           f"+ {WEBHOOK_BUDGET_SECONDS} s for shutdown webhooks: the pod would be killed mid-drain")

    def duration(self, env, name, cp):
        """Seconds of a gale duration variable, None when unset; an error when it does not parse."""
        value = env.get(name)
        if value is None or value == "":
            return None
        m = GALE_DURATION.match(str(value))
        if not m:
            self.error(f"{cp}.env", f"{name}: {value!r} is not a duration (e.g. 5s, 1500ms)")
            return None
        return float(m.group(1)) * DURATION_UNIT_SECONDS[m.group(3)]

    def check(self, text):
        try:
            raw = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            print(f"YAML does not parse: {e}", file=sys.stderr)
            return 2
        docs = [(i + 1, d) for i, d in enumerate(raw) if d is not None]
        if not docs:
            print("no documents", file=sys.stderr)
            return 1
        for index, doc in docs:
            self.where = describe(index, doc)
            if not isinstance(doc, dict):
                self.error("", f"a document must be a mapping, got {type(doc).__name__}")
                continue
            api_version, kind = doc.get("apiVersion"), doc.get("kind")
            if not isinstance(api_version, str) or not isinstance(kind, str):
                self.error("", "apiVersion and kind are required strings")
                continue
            if api_version == KEDA_GROUP_VERSION and kind in KEDA_SPECS:
                self.check_keda(doc)
                continue
            klass = self.model_for(api_version, kind)
            if klass is None:
                self.error("kind", f"{api_version} {kind} is not a kind the Kubernetes client knows")
                continue
            self.check_model(doc, klass, "")
            self.check_semantics(doc)
        self.check_references([(i, d) for i, d in docs if isinstance(d, dict)])
        self.check_gale([(i, d) for i, d in docs if isinstance(d, dict)])
        self.check_keda_references([(i, d) for i, d in docs if isinstance(d, dict)])
        for e in self.errors:
            print(e, file=sys.stderr)
        if self.errors:
            print(f"{len(self.errors)} problem(s) in {len(docs)} document(s)", file=sys.stderr)
            return 1
        print(f"ok: {len(docs)} document(s) valid against the Kubernetes {client_k8s_version()} schema")
        return 0


def describe(index, doc):
    if not isinstance(doc, dict):
        return f"document {index}"
    return f"document {index} ({doc.get('kind')} {(doc.get('metadata') or {}).get('name')})"


def client_k8s_version():
    # python3-kubernetes 22.x is generated from the Kubernetes 1.22 OpenAPI spec.
    return f"1.{kubernetes.__version__.split('.')[0]} (python3-kubernetes {kubernetes.__version__})"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    sys.exit(Checker().check(sys.stdin.read()))
