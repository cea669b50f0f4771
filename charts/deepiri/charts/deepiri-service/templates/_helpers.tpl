{{/*
The Kubernetes name of everything this service owns is the service's name (the alias the
umbrella gives this chart): other services reach it as http://<name>:<port>, the names the
services' own settings use (ARCHITECTURE section 1). One release per namespace.
*/}}
{{- define "deepiri-service.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "deepiri-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "deepiri-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "deepiri-service.labels" -}}
{{ include "deepiri-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: service
app.kubernetes.io/part-of: deepiri
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "deepiri-service.port" -}}
{{- if not .Values.port -}}
{{- fail (printf "%s.port is required (the service's listening port)" .Chart.Name) -}}
{{- end -}}
{{- .Values.port -}}
{{- end -}}

{{- define "deepiri-service.serviceAccountName" -}}
{{- default (include "deepiri-service.name" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* registry/repository[:tag][@digest]; repository defaults to deepiri/<service>. */}}
{{- define "deepiri-service.image" -}}
{{- $g := .Values.global | default dict -}}
{{- $registry := .Values.image.registry | default $g.imageRegistry | default "" -}}
{{- $repository := .Values.image.repository | default (printf "deepiri/%s" (include "deepiri-service.name" .)) -}}
{{- $ref := $repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" (trimSuffix "/" $registry) $repository }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $ref .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.Values.image.tag | default $g.imageTag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The global datastore block for one of mongo/redis/influx. */}}
{{- define "deepiri-service.datastore" -}}
{{- $g := .root.Values.global | default dict -}}
{{- $all := $g.datastores | default dict -}}
{{- toYaml (get $all .kind | default dict) -}}
{{- end -}}

{{/* Name of the Secret holding a datastore credential: the existing one, or the chart's. */}}
{{- define "deepiri-service.datastoreSecret" -}}
{{- $ds := include "deepiri-service.datastore" . | fromYaml -}}
{{- $bundledName := dict "mongo" "deepiri-mongodb" "redis" "deepiri-redis" "influx" "deepiri-influxdb" -}}
{{- if $ds.existingSecret -}}
{{- $ds.existingSecret -}}
{{- else if $ds.bundled -}}
{{- get $bundledName .kind -}}
{{- else -}}
{{- fail (printf "global.datastores.%s.existingSecret is required when the bundled %s is off (%s needs its credentials)" .kind .kind .root.Chart.Name) -}}
{{- end -}}
{{- end -}}

{{/* Label selector of the bundled datastore's pods (umbrella templates use the same). */}}
{{- define "deepiri-service.datastorePodLabels" -}}
{{- $names := dict "mongo" "mongodb" "redis" "redis" "influx" "influxdb" -}}
app.kubernetes.io/name: {{ get $names .kind }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/*
Probes: defaults below, overridden by .Values.probes.<kind>. An override that names a
handler (httpGet/exec/tcpSocket/grpc) replaces the default handler instead of adding to it.
*/}}
{{- define "deepiri-service.probe" -}}
{{- $defaults := dict
  "startup" (dict "httpGet" (dict "path" "/livez" "port" "http") "periodSeconds" 2 "timeoutSeconds" 2 "failureThreshold" 60)
  "liveness" (dict "httpGet" (dict "path" "/livez" "port" "http") "periodSeconds" 10 "timeoutSeconds" 2 "failureThreshold" 3)
  "readiness" (dict "httpGet" (dict "path" "/health" "port" "http") "periodSeconds" 5 "timeoutSeconds" 3 "failureThreshold" 3)
-}}
{{- $probe := deepCopy (get $defaults .kind) -}}
{{- $override := get .root.Values.probes .kind | default dict -}}
{{- range $handler := list "httpGet" "exec" "tcpSocket" "grpc" -}}
{{- if hasKey $override $handler -}}
{{- $_ := unset $probe "httpGet" -}}
{{- end -}}
{{- end -}}
{{- toYaml (mergeOverwrite $probe (deepCopy $override)) -}}
{{- end -}}

{{/*
Policy-scan skips (checkov), each with its reason. Added to every workload's annotations.
*/}}
{{- define "deepiri-service.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=Images are referenced by tag for kind and dev loops; production values set image.digest, which the chart renders as repository@digest.
checkov.io/skip2: CKV_K8S_15=IfNotPresent is required for images loaded into kind and built by Tilt/skaffold; production pins digests, which makes Always unnecessary.
checkov.io/skip3: CKV_K8S_35=The services read configuration only from environment variables (ARCHITECTURE section 1); secrets come from secretKeyRef and are never logged (settings are redacted).
{{- end -}}

{{/* OTEL_RESOURCE_ATTRIBUTES: version, environment and the pod's place in the cluster. */}}
{{- define "deepiri-service.resourceAttributes" -}}
{{- $g := .Values.global | default dict -}}
{{- $attrs := list "service.namespace=deepiri" (printf "service.version=%s" .Chart.AppVersion) (printf "deployment.environment.name=%s" ($g.environment | default "production")) "k8s.namespace.name=$(K8S_NAMESPACE)" "k8s.pod.name=$(K8S_POD_NAME)" -}}
{{- range $k, $v := ($g.otel | default dict).resourceAttributes -}}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $attrs -}}
{{- end -}}
