{{/* Names, labels and the checks every template relies on. */}}

{{- define "leoflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "leoflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "leoflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leoflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "leoflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "leoflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "leoflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "leoflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "leoflow.taskNamespace" -}}
{{- default .Release.Namespace .Values.kubernetes.namespace -}}
{{- end -}}

{{- define "leoflow.secretName" -}}
{{- default (include "leoflow.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "leoflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "leoflow.agentAddress" -}}
{{- printf "%s.%s.svc:%v" (include "leoflow.fullname" .) .Release.Namespace .Values.service.grpcPort -}}
{{- end -}}

{{- define "leoflow.agentCaSecret" -}}
{{- default .Values.agentTls.secretName .Values.agentTls.caSecretName -}}
{{- end -}}

{{/*
Refuse to render a release that cannot work, with the fix in the message. Leoflow Pro keeps
its state in PostgreSQL and fans out XCom and live logs through Redis: without either, every
replica would come up and fail; better to stop at install time.
*/}}
{{- define "leoflow.validate" -}}
{{- if not .Values.existingSecret -}}
{{- if not .Values.database.url -}}
{{- fail "Leoflow Pro needs PostgreSQL (>= 13): set database.url=postgresql://user:password@host:5432/leoflow, or existingSecret naming a Secret with the key database-url" -}}
{{- end -}}
{{- if not .Values.redis.url -}}
{{- fail "Leoflow Pro needs Redis (>= 6) for XCom and live logs: set redis.url=redis://host:6379/0, or existingSecret naming a Secret with the key redis-url" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.agentTls.enabled (not .Values.agentTls.secretName) -}}
{{- fail "agentTls.enabled needs agentTls.secretName: a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt (e.g. from cert-manager); or set agentTls.enabled=false for a plaintext agent channel (variables and connections are then never delivered)" -}}
{{- end -}}
{{- if and .Values.agentTls.enabled .Values.kubernetes.namespace (ne .Values.kubernetes.namespace .Release.Namespace) (not .Values.agentTls.caSecretName) -}}
{{- fail "task pods run in another namespace than the release: set agentTls.caSecretName to a Secret with ca.crt in that namespace" -}}
{{- end -}}
{{- if and .Values.logs.persistence.enabled (not .Values.logs.persistence.existingClaim) (lt (int .Values.replicaCount) 1) -}}
{{- fail "replicaCount must be at least 1" -}}
{{- end -}}
{{- end -}}

{{/* The environment shared by the server and the migration job. */}}
{{- define "leoflow.datastoreEnv" -}}
- name: LEOFLOW_EDITION
  value: pro
- name: LEOFLOW_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "leoflow.secretName" . }}
      key: {{ .Values.secretKeys.databaseUrl }}
- name: LEOFLOW_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: LEOFLOW_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}
