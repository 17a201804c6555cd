package deploy

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// secretSettings are the settings that must come from the Secret "wagw",
// never written into a manifest.
var secretSettings = []string{"DATABASE_URL", "WA_APP_SECRET", "WA_VERIFY_TOKEN", "WA_ACCESS_TOKEN", "WAGW_ADMIN_TOKEN", "KAFKA_SASL_PASSWORD"}

// roleSecrets are the secrets each role cannot start without.
var roleSecrets = map[string][]string{
	"gateway":  {"DATABASE_URL", "WA_APP_SECRET", "WA_VERIFY_TOKEN", "WAGW_ADMIN_TOKEN"},
	"consumer": {"DATABASE_URL"},
	"relay":    {"DATABASE_URL", "WA_ACCESS_TOKEN"},
	"migrate":  {"DATABASE_URL"},
}

// manifests are the objects of deploy/k8s by "Kind/name".
type manifests map[string]*yaml.Node

// loadK8s parses every file kustomization.yaml lists, and checks that it
// lists every manifest in the folder.
func loadK8s(t *testing.T, dir string) (manifests, kustomization) {
	t.Helper()
	var k kustomization
	decodeFile(t, filepath.Join(dir, "kustomization.yaml"), func(n *yaml.Node) { decode(t, n, &k) })
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	if !slices.Equal(sorted(k.Resources), want) {
		t.Errorf("kustomization.yaml lists %v, the folder has %v", k.Resources, want)
	}
	m := manifests{}
	for _, r := range k.Resources {
		decodeFile(t, filepath.Join(dir, r), func(n *yaml.Node) {
			var h header
			decode(t, n, &h)
			if h.APIVersion == "" || h.Kind == "" || h.Metadata.Name == "" {
				t.Errorf("%s: an object without apiVersion, kind or name: %+v", r, h)
			}
			if m[h.Kind+"/"+h.Metadata.Name] != nil {
				t.Errorf("%s: %s/%s twice", r, h.Kind, h.Metadata.Name)
			}
			m[h.Kind+"/"+h.Metadata.Name] = n
		})
	}
	return m, k
}

func decodeFile(t *testing.T, path string, each func(*yaml.Node)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		each(&n)
	}
}

func decode(t *testing.T, n *yaml.Node, v any) {
	t.Helper()
	if err := n.Decode(v); err != nil {
		t.Fatalf("line %d: %v", n.Line, err)
	}
}

// get decodes the object kind/name into v, or fails the test.
func (m manifests) get(t *testing.T, kind, name string, v any) {
	t.Helper()
	n := m[kind+"/"+name]
	if n == nil {
		t.Fatalf("no %s %s in deploy/k8s", kind, name)
	}
	decode(t, n, v)
}

func (m manifests) kinds(kind string) []string {
	var names []string
	for k := range m {
		if name, ok := strings.CutPrefix(k, kind+"/"); ok {
			names = append(names, name)
		}
	}
	return sorted(names)
}

func TestK8sDeployments(t *testing.T) {
	m, k := loadK8s(t, "k8s")
	if got := m.kinds("Deployment"); !slices.Equal(got, []string{"wagw-consumer", "wagw-gateway", "wagw-relay"}) {
		t.Fatalf("Deployments %v, want one per role", got)
	}
	if len(k.Images) != 1 || k.Images[0].Name != "wagw" {
		t.Errorf("kustomization.yaml images %+v, want the one named wagw that the manifests use", k.Images)
	}
	for _, role := range []string{"gateway", "consumer", "relay"} {
		var d deployment
		m.get(t, "Deployment", "wagw-"+role, &d)
		pod := d.Spec.Template
		if !subset(d.Spec.Selector.MatchLabels, pod.Metadata.Labels) || len(d.Spec.Selector.MatchLabels) == 0 {
			t.Errorf("%s: selector %v does not select its pods %v", role, d.Spec.Selector.MatchLabels, pod.Metadata.Labels)
		}
		if len(pod.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", role, len(pod.Spec.Containers))
		}
		c := pod.Spec.Containers[0]
		checkContainer(t, role, c, pod.Spec.SecurityContext)
		probePort := "http"
		if role != "gateway" {
			probePort = "health"
			if v := envValue(c, "WAGW_HEALTH_ADDR"); v != ":"+strconv.Itoa(port(c, "health")) {
				t.Errorf("%s: WAGW_HEALTH_ADDR %q is not the health port %d", role, v, port(c, "health"))
			}
		} else if port(c, "http") != 8080 {
			t.Errorf("gateway: http port %d, want 8080 (WAGW_HTTP_ADDR of the image)", port(c, "http"))
		}
		checkProbe(t, role, "readiness", c.ReadinessProbe, "/readyz", probePort)
		checkProbe(t, role, "liveness", c.LivenessProbe, "/healthz", probePort)
		if port(c, probePort) == 0 {
			t.Errorf("%s: the probes' port %q is not a container port", role, probePort)
		}
	}
	var migrate job
	m.get(t, "Job", "wagw-migrate", &migrate)
	if cs := migrate.Spec.Template.Spec.Containers; len(cs) != 1 {
		t.Errorf("migrate: %d containers", len(cs))
	} else {
		checkContainer(t, "migrate", cs[0], migrate.Spec.Template.Spec.SecurityContext)
	}
}

// checkContainer checks what every wagw container needs: the role as its
// argument, resources, a non-root read-only securityContext, secrets
// referenced.
func checkContainer(t *testing.T, role string, c container, pod securityContext) {
	t.Helper()
	if c.Image != "wagw" || !slices.Equal(c.Args, []string{role}) {
		t.Errorf("%s: image %q args %v, want wagw [%s]", role, c.Image, c.Args, role)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("%s: resources %+v, want cpu and memory requests and a memory limit", role, c.Resources)
	}
	nonRoot := pod.RunAsNonRoot
	if c.SecurityContext.RunAsNonRoot != nil {
		nonRoot = c.SecurityContext.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot || pod.RunAsUser == nil || *pod.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and a non-zero runAsUser", role, pod)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: container securityContext %+v, want a read-only root filesystem, no privilege escalation, every capability dropped", role, sc)
	}
	refs := map[string]bool{}
	for _, e := range c.Env {
		if !slices.Contains(secretSettings, e.Name) {
			continue
		}
		if e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != "wagw" || e.ValueFrom.SecretKeyRef.Key != e.Name {
			t.Errorf("%s: %s is not taken from the Secret wagw's key of that name", role, e.Name)
			continue
		}
		refs[e.Name] = true
	}
	for _, s := range roleSecrets[role] {
		if !refs[s] {
			t.Errorf("%s: %s is not set from the Secret wagw", role, s)
		}
	}
	if role != "migrate" {
		checkMemoryLimit(t, role, c)
	}
	if role != "migrate" && (len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != "wagw") {
		t.Errorf("%s: envFrom %+v, want the ConfigMap wagw", role, c.EnvFrom)
	}
}

func checkProbe(t *testing.T, role, kind string, p *probe, path, port string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != port {
		t.Errorf("%s: %s probe %+v, want GET %s on port %s", role, kind, p, path, port)
	}
}

func TestK8sSecretsReferencedNotInlined(t *testing.T) {
	m, _ := loadK8s(t, "k8s")
	if s := m.kinds("Secret"); len(s) > 0 {
		t.Errorf("deploy/k8s holds Secrets %v; they are created apart and referenced", s)
	}
	var cm configMap
	m.get(t, "ConfigMap", "wagw", &cm)
	for _, s := range secretSettings {
		if _, ok := cm.Data[s]; ok {
			t.Errorf("the ConfigMap holds the secret %s", s)
		}
	}
}

func TestK8sGatewayServiceBudgetAutoscaler(t *testing.T) {
	m, _ := loadK8s(t, "k8s")
	var d deployment
	m.get(t, "Deployment", "wagw-gateway", &d)
	pods := d.Spec.Template.Metadata.Labels
	c := d.Spec.Template.Spec.Containers[0]

	var svc service
	m.get(t, "Service", "wagw-gateway", &svc)
	if !subset(svc.Spec.Selector, pods) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service selector %v does not select the gateway's pods %v", svc.Spec.Selector, pods)
	}
	if len(svc.Spec.Ports) != 1 || port(c, svc.Spec.Ports[0].TargetPort) != 8080 {
		t.Errorf("Service ports %+v, want one to the gateway's http port", svc.Spec.Ports)
	}
	for _, role := range []string{"gateway", "consumer", "relay"} {
		var pdb podDisruptionBudget
		m.get(t, "PodDisruptionBudget", "wagw-"+role, &pdb)
		var rd deployment
		m.get(t, "Deployment", "wagw-"+role, &rd)
		if !subset(pdb.Spec.Selector.MatchLabels, rd.Spec.Template.Metadata.Labels) || len(pdb.Spec.Selector.MatchLabels) == 0 ||
			(pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Errorf("PodDisruptionBudget of %s %+v, want one bound selecting its pods", role, pdb.Spec)
		}
	}
	if got := m.kinds("HorizontalPodAutoscaler"); !slices.Equal(got, []string{"wagw-gateway"}) {
		t.Fatalf("HorizontalPodAutoscalers %v, want the gateway's only (consumers are bounded by partitions)", got)
	}
	var hpa horizontalPodAutoscaler
	m.get(t, "HorizontalPodAutoscaler", "wagw-gateway", &hpa)
	s := hpa.Spec
	if s.ScaleTargetRef.Kind != "Deployment" || s.ScaleTargetRef.Name != "wagw-gateway" || s.MinReplicas < 2 || s.MaxReplicas < s.MinReplicas {
		t.Errorf("HorizontalPodAutoscaler %+v, want wagw-gateway between at least 2 and more replicas", s)
	}
	for _, metric := range s.Metrics {
		if metric.Type == "Resource" && c.Resources.Requests[metric.Resource.Name] == "" {
			t.Errorf("the autoscaler scales on %s, which the gateway does not request", metric.Resource.Name)
		}
	}
}

// A consumer group member beyond the partition count gets nothing to do.
func TestK8sConsumersBoundedByPartitions(t *testing.T) {
	m, _ := loadK8s(t, "k8s")
	var cm configMap
	m.get(t, "ConfigMap", "wagw", &cm)
	var d deployment
	m.get(t, "Deployment", "wagw-consumer", &d)
	partitions, err1 := strconv.Atoi(cm.Data["KAFKA_PARTITIONS"])
	workers, err2 := strconv.Atoi(cm.Data["WAGW_CONSUMER_WORKERS"])
	if err1 != nil || err2 != nil || d.Spec.Replicas == nil {
		t.Fatalf("KAFKA_PARTITIONS %q, WAGW_CONSUMER_WORKERS %q, replicas %v: want all three set", cm.Data["KAFKA_PARTITIONS"], cm.Data["WAGW_CONSUMER_WORKERS"], d.Spec.Replicas)
	}
	if *d.Spec.Replicas*workers > partitions {
		t.Errorf("%d consumer replicas × %d workers > %d partitions", *d.Spec.Replicas, workers, partitions)
	}
	text, _ := os.ReadFile(filepath.Join("k8s", "consumer.yaml"))
	if !strings.Contains(string(text), "KAFKA_PARTITIONS") || !strings.Contains(string(text), "WAGW_CONSUMER_WORKERS") {
		t.Error("consumer.yaml does not say in a comment that replicas × WAGW_CONSUMER_WORKERS is bounded by KAFKA_PARTITIONS")
	}
}

// checkMemoryLimit: a long-running role sets Go's soft memory limit at
// most 90 % of its container's memory limit (the default follows the
// connection cap, not the container).
func checkMemoryLimit(t *testing.T, role string, c container) {
	t.Helper()
	set, err := strconv.ParseInt(envValue(c, "WAGW_MEMORY_LIMIT"), 10, 64)
	if err != nil {
		t.Errorf("%s: WAGW_MEMORY_LIMIT %q, want a number of bytes under the container's memory limit", role, envValue(c, "WAGW_MEMORY_LIMIT"))
		return
	}
	q := c.Resources.Limits["memory"]
	mib, err := strconv.ParseInt(strings.TrimSuffix(q, "Mi"), 10, 64)
	if err != nil || !strings.HasSuffix(q, "Mi") {
		t.Errorf("%s: memory limit %q, want one in Mi", role, q)
		return
	}
	if set > mib<<20*9/10 {
		t.Errorf("%s: WAGW_MEMORY_LIMIT %d is over 90 %% of the container's %s", role, set, q)
	}
}

func envValue(c container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.Value != nil {
			return *e.Value
		}
	}
	return ""
}

func port(c container, name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
