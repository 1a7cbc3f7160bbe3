{{- define "vetor.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vetor.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vetor.labels" -}}
app.kubernetes.io/name: {{ include "vetor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vetor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vetor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vetor.storeSecret" -}}
{{- default (printf "%s-store" (include "vetor.fullname" .)) .Values.store.existingSecret -}}
{{- end -}}

{{- define "vetor.authSecret" -}}
{{- default (printf "%s-auth" (include "vetor.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}
