{{- define "deepiri.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: deepiri
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of one platform component: (dict "root" $ "name" "mongodb" "component" "datastore") */}}
{{- define "deepiri.componentLabels" -}}
app.kubernetes.io/name: {{ .name }}
{{ include "deepiri.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "deepiri.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* image reference of a third-party component: (dict "root" $ "image" .Values.x.image) */}}
{{- define "deepiri.image" -}}
{{- $registry := .image.registry | default "" -}}
{{- $ref := .image.repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (required "an image tag or digest is required" .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Names of the enabled services, in Chart.yaml order. */}}
{{- define "deepiri.enabledServices" -}}
{{- $names := list -}}
{{- range .Chart.Dependencies -}}
{{- $v := index $.Values .Alias | default dict -}}
{{- if $v.enabled -}}{{ $names = append $names .Alias }}{{- end -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* A context in which the service chart's named templates work for service .name. */}}
{{- define "deepiri.serviceContext" -}}
{{- $v := index .root.Values .name -}}
{{- toYaml (dict "Values" $v "Chart" (dict "Name" .name "Version" .root.Chart.Version "AppVersion" .root.Chart.AppVersion) "Release" (dict "Name" .root.Release.Name "Namespace" .root.Release.Namespace "Service" .root.Release.Service)) -}}
{{- end -}}

{{/*
A generated secret value that survives upgrades: the value already in the cluster if the
Secret exists (lookup), a new random one otherwise. (dict "root" $ "secret" name "key" k)
*/}}
{{- define "deepiri.generatedSecret" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}

{{/* The restricted container securityContext every bundled component uses. */}}
{{- define "deepiri.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "deepiri.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "deepiri.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=Third-party images are pinned by tag in values; set image.digest per component to pin by digest.
checkov.io/skip2: CKV_K8S_15=IfNotPresent lets kind use images it already has; pinned tags/digests make Always unnecessary.
checkov.io/skip3: CKV_K8S_35=The servers take their bootstrap credentials from environment variables (their images' interface); values come from secretKeyRef.
{{- end -}}

{{- define "deepiri.dnsEgress" -}}
- to:
    {{- toYaml .Values.global.networkPolicy.dnsPeers | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* A bundled datastore admits only pods labelled deepiri.io/uses-<kind>; it needs no egress. */}}
{{- define "deepiri.datastoreNetworkPolicy" -}}
{{- if .root.Values.global.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deepiri-{{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "deepiri.componentLabels" (dict "root" .root "name" .name "component" "datastore") | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "deepiri.selectorLabels" (dict "root" .root "name" .name) | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              deepiri.io/uses-{{ .kind }}: "true"
      ports:
        - port: {{ .port }}
          protocol: TCP
  egress: []
{{- end }}
{{- end -}}

{{/* "512Mi" / "1Gi" → mebibytes as an integer (for GOMEMLIMIT). */}}
{{- define "deepiri.mebibytes" -}}
{{- $q := toString . -}}
{{- if hasSuffix "Gi" $q -}}{{ mul (trimSuffix "Gi" $q | int) 1024 }}{{- else if hasSuffix "Mi" $q -}}{{ trimSuffix "Mi" $q | int }}{{- else -}}{{ fail (printf "memory limit %q: use Mi or Gi" $q) }}{{- end -}}
{{- end -}}

{{- define "deepiri.testCheckovSkips" -}}
{{ include "deepiri.checkovSkips" . }}
checkov.io/skip4: CKV_K8S_8=A helm test pod runs one request and exits; a liveness probe has nothing to watch.
checkov.io/skip5: CKV_K8S_9=A helm test pod runs one request and exits; nothing routes traffic to it.
{{- end -}}

{{/* A run-once test container in a Deepiri image (its Python does the HTTP request). */}}
{{/* get(url, host) for the test pods' scripts. A policy-enforcing network plugin admits a
new pod only once it has programmed the pod's address (kube-router refuses the connection
until its next sync), so connection errors are retried for a minute; an HTTP answer, such as
the 404 of tests.fail=true, is final. */}}
{{- define "deepiri.testGet" -}}
import time, urllib.error, urllib.request as u
def get(url, host=""):
    deadline = time.monotonic() + 60
    while True:
        try:
            return u.urlopen(u.Request(url, headers={"Host": host} if host else {}), timeout=10)
        except urllib.error.HTTPError:
            raise
        except OSError as e:
            if time.monotonic() > deadline:
                raise
            print("retrying:", e)
            time.sleep(1)
{{ end -}}

{{- define "deepiri.testPodSpec" -}}
restartPolicy: Never
automountServiceAccountToken: false
securityContext:
  {{- include "deepiri.podSecurityContext" .root | nindent 2 }}
containers:
  - name: check
    image: {{ .image | quote }}
    imagePullPolicy: IfNotPresent
    command: [python, -c, {{ print (include "deepiri.testGet" .) .script | quote }}]
    resources:
      requests: {cpu: 10m, memory: 32Mi}
      limits: {cpu: 200m, memory: 128Mi}
    securityContext:
      {{- include "deepiri.containerSecurityContext" .root | nindent 6 }}
{{- end -}}
