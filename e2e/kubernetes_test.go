package e2e

// No cluster runs here: the manifests under deploy/kubernetes are checked by decoding every
// document strictly (an unknown or misspelt field fails) into the official Kubernetes types,
// then asserting what the api needs from them.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"assistant/server/config"
)

const k8sDir = "../deploy/kubernetes"

// kustomization is the part of kustomize's Kustomization the manifests use; decoding into it
// strictly refuses anything else.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests are every document of a kustomization's resources, by kind and name.
type manifests struct {
	deployment *appsv1.Deployment
	job        *batchv1.Job
	service    *corev1.Service
	ingress    *networkingv1.Ingress
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	namespace  *corev1.Namespace
}

// decodeStrict decodes as the API server does: YAML to JSON (a duplicate key is an error),
// then JSON with case-sensitive field names (encoding/json would take readOnlyRootFileSystem
// for readOnlyRootFilesystem) and neither unknown nor duplicate fields.
func decodeStrict(doc []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func strict(t *testing.T, file string, doc []byte, into any) {
	t.Helper()
	if err := decodeStrict(doc, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// load reads a kustomization and decodes each of its resources into its official type.
func load(t *testing.T, dir string, m *manifests) kustomization {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	strict(t, "kustomization.yaml", raw, &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace != "assistant" {
		t.Errorf("%s/kustomization.yaml: %s %s namespace %q", dir, k.APIVersion, k.Kind, k.Namespace)
	}
	// Every manifest in the directory is a resource of it: none is forgotten.
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not listed in %s/kustomization.yaml", base, dir)
		}
	}
	for _, res := range k.Resources {
		raw, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			name := fmt.Sprintf("%s#%d", res, i)
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 Deployment":
				m.deployment = &appsv1.Deployment{}
				strict(t, name, doc, m.deployment)
			case "batch/v1 Job":
				m.job = &batchv1.Job{}
				strict(t, name, doc, m.job)
			case "v1 Service":
				m.service = &corev1.Service{}
				strict(t, name, doc, m.service)
			case "networking.k8s.io/v1 Ingress":
				m.ingress = &networkingv1.Ingress{}
				strict(t, name, doc, m.ingress)
			case "policy/v1 PodDisruptionBudget":
				m.pdb = &policyv1.PodDisruptionBudget{}
				strict(t, name, doc, m.pdb)
			case "autoscaling/v2 HorizontalPodAutoscaler":
				m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
				strict(t, name, doc, m.hpa)
			case "v1 ConfigMap":
				m.configMap = &corev1.ConfigMap{}
				strict(t, name, doc, m.configMap)
			case "v1 Secret":
				m.secret = &corev1.Secret{}
				strict(t, name, doc, m.secret)
			case "v1 Namespace":
				m.namespace = &corev1.Namespace{}
				strict(t, name, doc, m.namespace)
			default:
				t.Errorf("%s: unexpected %s %s", name, meta.APIVersion, meta.Kind)
			}
		}
	}
	return k
}

func loadAll(t *testing.T) manifests {
	t.Helper()
	var m manifests
	load(t, k8sDir, &m)
	load(t, filepath.Join(k8sDir, "migrate"), &m)
	for name, missing := range map[string]bool{
		"Deployment": m.deployment == nil, "Job": m.job == nil, "Service": m.service == nil, "Ingress": m.ingress == nil,
		"PodDisruptionBudget": m.pdb == nil, "HorizontalPodAutoscaler": m.hpa == nil, "ConfigMap": m.configMap == nil,
		"Secret": m.secret == nil, "Namespace": m.namespace == nil,
	} {
		if missing {
			t.Fatalf("no %s in the manifests", name)
		}
	}
	return m
}

// checkContainer asserts what every container of the api's image must have: the hardened
// security context, requests and limits, and a writable /tmp.
func checkContainer(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		(sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("%s: security context %+v", c.Name, sc)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod security context %+v", c.Name, psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted (the api never calls the cluster's API)", c.Name)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s, limit %s", c.Name, r, req.String(), lim.String())
		}
	}
	if c.Image != "assistant" {
		t.Errorf("%s: image %q, want the name the kustomization's images entry sets", c.Name, c.Image)
	}
	var tmp *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == "/tmp" {
			tmp = &c.VolumeMounts[i]
		}
	}
	if tmp == nil {
		t.Fatalf("%s: no writable /tmp", c.Name)
	}
	for _, v := range pod.Volumes {
		if v.Name == tmp.Name && (v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil) {
			t.Errorf("%s: /tmp is not a bounded emptyDir: %+v", c.Name, v)
		}
	}
}

// The decoding is strict: a misspelt field, which kubectl would drop with a warning, fails.
func TestKubernetesDecodingIsStrict(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicass: 3\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 3\n  replicas: 4\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: a, securityContext: {readOnlyRootFileSystem: true}}]\n",
	} {
		if err := decodeStrict([]byte(doc), &appsv1.Deployment{}); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}

func TestKubernetesDeployment(t *testing.T) {
	t.Parallel()
	m := loadAll(t)
	d := m.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("a rollout may take serving replicas away first: %+v", d.Spec.Strategy)
	}
	sel, tmpl := d.Spec.Selector.MatchLabels, d.Spec.Template.Labels
	for k, v := range sel {
		if tmpl[k] != v {
			t.Errorf("the selector %v does not match the pod labels %v", sel, tmpl)
		}
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	checkContainer(t, pod, c)
	if diff := cmp.Diff([]string{"serve"}, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s probe: %+v, want GET %s on the http port", name, p, path)
			return
		}
		if p.TimeoutSeconds < 1 || p.PeriodSeconds < 1 || p.FailureThreshold < 1 {
			t.Errorf("%s probe timings: %+v", name, p)
		}
	}
	probe("liveness", c.LivenessProbe, "/api/v1/health/live")
	probe("readiness", c.ReadinessProbe, "/api/v1/health")
	probe("startup", c.StartupProbe, "/api/v1/health/live")
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v", c.Ports)
	}
	// A replica's running replies get SHUTDOWN_TIMEOUT after SIGTERM; the kubelet must wait
	// longer than that before killing it.
	shutdown, err := time.ParseDuration(m.configMap.Data["SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("SHUTDOWN_TIMEOUT: %v", err)
	}
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %v is not above SHUTDOWN_TIMEOUT %s", pod.TerminationGracePeriodSeconds, shutdown)
	}
	var fromConfig, fromSecret bool
	for _, e := range c.EnvFrom {
		fromConfig = fromConfig || e.ConfigMapRef != nil && e.ConfigMapRef.Name == m.configMap.Name
		fromSecret = fromSecret || e.SecretRef != nil && e.SecretRef.Name == m.secret.Name
	}
	if !fromConfig || !fromSecret || len(c.Env) != 0 {
		t.Errorf("settings come from the ConfigMap and the Secret only: envFrom %+v, env %+v", c.EnvFrom, c.Env)
	}
}

// The settings are ones the server reads, with the secrets in the Secret, and the server
// accepts them (with real secrets in place of the placeholders).
func TestKubernetesSettings(t *testing.T) {
	t.Parallel()
	m := loadAll(t)
	env := map[string]string{}
	for k, v := range m.configMap.Data {
		env[k] = v
	}
	secrets := []string{"DATABASE_URL", "REDIS_URL", "JWT_SECRET", "LLM_API_KEY", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"}
	var inSecret []string
	for k, v := range m.secret.StringData {
		inSecret = append(inSecret, k)
		if !strings.Contains(v, "replace-with") && k != "REDIS_URL" {
			t.Errorf("the example Secret's %s is not an obvious placeholder: %q", k, v)
		}
		env[k] = v
	}
	slices.Sort(inSecret)
	slices.Sort(secrets)
	if diff := cmp.Diff(secrets, inSecret); diff != "" {
		t.Errorf("the Secret's keys (-want +got):\n%s", diff)
	}
	for _, k := range secrets {
		if _, ok := m.configMap.Data[k]; ok {
			t.Errorf("%s is in the ConfigMap: secrets go in the Secret", k)
		}
	}
	if env["STORAGE_BACKEND"] != "s3" {
		t.Errorf("STORAGE_BACKEND=%q: replicas on several nodes need the bucket", env["STORAGE_BACKEND"])
	}
	// The placeholders are refused in production; real values pass.
	if _, err := config.Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Errorf("the placeholder JWT_SECRET was accepted: %v", err)
	}
	env["JWT_SECRET"] = "a8f5f167f44f4964e6c998dee827110c-k8s-test-value"
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the manifests' settings: %v", err)
	}
	if cfg.AppEnv != config.Production || cfg.StorageBackend != "s3" || cfg.RateLimitBackend != "redis" {
		t.Errorf("config: env %s, storage %s, rate limits %s", cfg.AppEnv, cfg.StorageBackend, cfg.RateLimitBackend)
	}
	var known []string
	_, _ = config.Load(func(k string) string { known = append(known, k); return "" })
	for k := range env {
		if !slices.Contains(known, k) {
			t.Errorf("%s is not a setting the server reads", k)
		}
	}
}

// The migrations run as a Job of the same image and hardening, to completion, once.
func TestKubernetesMigrationJob(t *testing.T) {
	t.Parallel()
	m := loadAll(t)
	j := m.job
	pod := j.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Fatalf("restart policy %s, %d containers", pod.RestartPolicy, len(pod.Containers))
	}
	c := pod.Containers[0]
	checkContainer(t, pod, c)
	if diff := cmp.Diff([]string{"migrate"}, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "DATABASE_URL" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != m.secret.Name {
		t.Errorf("env %+v: DATABASE_URL from the Secret", c.Env)
	}
	if j.Spec.BackoffLimit == nil || j.Spec.ActiveDeadlineSeconds == nil {
		t.Errorf("the Job is unbounded: backoffLimit %v, activeDeadlineSeconds %v", j.Spec.BackoffLimit, j.Spec.ActiveDeadlineSeconds)
	}
}

func TestKubernetesServiceIngressPDBAndHPA(t *testing.T) {
	t.Parallel()
	m := loadAll(t)
	podLabels := m.deployment.Spec.Template.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !matches(m.service.Spec.Selector) || len(m.service.Spec.Ports) != 1 || m.service.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("service %+v", m.service.Spec)
	}
	if m.pdb.Spec.Selector == nil || !matches(m.pdb.Spec.Selector.MatchLabels) || m.pdb.Spec.MinAvailable == nil ||
		m.pdb.Spec.MinAvailable.IntValue() < 1 || m.pdb.Spec.MinAvailable.IntValue() >= int(*m.deployment.Spec.Replicas) {
		t.Errorf("pdb %+v: it must keep some replicas and let a drain take one", m.pdb.Spec)
	}
	h := m.hpa.Spec
	if h.ScaleTargetRef.Kind != "Deployment" || h.ScaleTargetRef.Name != m.deployment.Name || h.MinReplicas == nil ||
		*h.MinReplicas != *m.deployment.Spec.Replicas || h.MaxReplicas <= *h.MinReplicas || len(h.Metrics) != 1 ||
		h.Metrics[0].Resource == nil || h.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		h.Metrics[0].Resource.Target.Type != autoscalingv2.UtilizationMetricType {
		t.Errorf("hpa %+v", h)
	}
	ing := m.ingress
	want := map[string]string{
		"nginx.ingress.kubernetes.io/proxy-buffering":         "off",
		"nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
		"nginx.ingress.kubernetes.io/proxy-read-timeout":      "3600",
		"nginx.ingress.kubernetes.io/proxy-send-timeout":      "3600",
	}
	for k, v := range want {
		if ing.Annotations[k] != v {
			t.Errorf("ingress annotation %s = %q, want %q", k, ing.Annotations[k], v)
		}
	}
	// The body limit is above the largest upload the server accepts.
	body, err := resource.ParseQuantity(strings.TrimSuffix(ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"], "m") + "Mi")
	if err != nil {
		t.Fatalf("proxy-body-size: %v", err)
	}
	maxUpload := resource.MustParse(m.configMap.Data["MAX_UPLOAD_BYTES"])
	if body.Cmp(maxUpload) <= 0 {
		t.Errorf("proxy-body-size %s is not above MAX_UPLOAD_BYTES %s", body.String(), maxUpload.String())
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].HTTP == nil || len(ing.Spec.Rules[0].HTTP.Paths) != 1 {
		t.Fatalf("ingress rules %+v", ing.Spec.Rules)
	}
	p := ing.Spec.Rules[0].HTTP.Paths[0]
	if p.Path != "/api" || p.Backend.Service == nil || p.Backend.Service.Name != m.service.Name || p.Backend.Service.Port.Name != "http" {
		t.Errorf("ingress path %+v", p)
	}
	if m.namespace.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace labels %v", m.namespace.Labels)
	}
}
