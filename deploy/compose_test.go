package deploy

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is what the README tells the operator to export before
// `docker compose up`.
var composeEnv = []string{"WA_APP_SECRET=app-secret", "WA_VERIFY_TOKEN=verify", "WA_ACCESS_TOKEN=access", "WAGW_ADMIN_TOKEN=admin"}

// loadCompose loads compose.yaml with the compose specification's loader:
// schema validation, interpolation, merge keys and path resolution, as
// `docker compose` does.
func loadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithWorkingDirectory("."), cli.WithEnv(env), cli.WithInterpolation(true),
		cli.WithResolvedPaths(true), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestComposeServices(t *testing.T) {
	p, err := loadCompose(t, composeEnv)
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	want := []string{"consumer", "gateway", "kafka", "migrate", "postgres", "relay"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	root, _ := filepath.Abs("..")
	kafka := p.Services["kafka"]
	for _, name := range []string{"migrate", "gateway", "consumer", "relay"} {
		s := p.Services[name]
		if s.Image != "wagw:local" || s.Build == nil || s.Build.Context != root || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: image %q built from %+v, want wagw:local from the repository's Dockerfile", name, s.Image, s.Build)
		}
		if !slices.Equal(s.Command, types.ShellCommand{name}) {
			t.Errorf("%s: command %v, want [%s]", name, s.Command, name)
		}
		if got := env(s, "DATABASE_URL"); !strings.Contains(got, "@postgres:5432/") {
			t.Errorf("%s: DATABASE_URL %q does not reach the postgres service", name, got)
		}
		assertDepends(t, s, "postgres", types.ServiceConditionHealthy)
	}
	for _, name := range []string{"gateway", "consumer", "relay"} {
		s := p.Services[name]
		if got := env(s, "KAFKA_BROKERS"); got != "kafka:9092" || !strings.Contains(env(kafka, "KAFKA_ADVERTISED_LISTENERS"), "://"+got) {
			t.Errorf("%s: KAFKA_BROKERS %q is not the kafka service's advertised listener %q", name, got, env(kafka, "KAFKA_ADVERTISED_LISTENERS"))
		}
		if env(s, "KAFKA_PARTITIONS") != env(kafka, "KAFKA_NUM_PARTITIONS") {
			t.Errorf("%s: KAFKA_PARTITIONS %s, the broker's default %s", name, env(s, "KAFKA_PARTITIONS"), env(kafka, "KAFKA_NUM_PARTITIONS"))
		}
		if env(s, "KAFKA_REPLICATION_FACTOR") != "1" || env(s, "KAFKA_MIN_INSYNC_REPLICAS") != "1" {
			t.Errorf("%s: one broker needs KAFKA_REPLICATION_FACTOR=1 and KAFKA_MIN_INSYNC_REPLICAS=1", name)
		}
		for _, kv := range composeEnv {
			k, v, _ := strings.Cut(kv, "=")
			if env(s, k) != v {
				t.Errorf("%s: %s is %q, want %q from the environment", name, k, env(s, k), v)
			}
		}
		assertDepends(t, s, "kafka", types.ServiceConditionHealthy)
		assertDepends(t, s, "migrate", types.ServiceConditionCompletedSuccessfully)
		port := "8080" // the image's WAGW_HTTP_ADDR
		if name != "gateway" {
			port = strings.TrimPrefix(env(s, "WAGW_HEALTH_ADDR"), ":")
		}
		probe := types.HealthCheckTest{"CMD", "/usr/local/bin/wagw", "probe", "http://127.0.0.1:" + port + "/readyz"}
		if hc := s.HealthCheck; port == "" || hc == nil || hc.Disable || !slices.Equal(hc.Test, probe) {
			t.Errorf("%s: health check %+v, want %v", name, hc, probe)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
		}
	}
	for _, name := range []string{"postgres", "kafka"} {
		if hc := p.Services[name].HealthCheck; hc == nil || len(hc.Test) < 2 || hc.Disable {
			t.Errorf("%s: no health check, which the roles' depends_on waits for", name)
		}
	}
	if ports := p.Services["gateway"].Ports; len(ports) != 1 || ports[0].Target != 8080 || ports[0].Published != "8080" {
		t.Errorf("gateway publishes %+v, want 8080:8080", ports)
	}
}

// Without the secrets the file refuses to load rather than start the roles
// with empty ones.
func TestComposeNeedsSecrets(t *testing.T) {
	for i := range composeEnv {
		env := slices.Delete(slices.Clone(composeEnv), i, i+1)
		name, _, _ := strings.Cut(composeEnv[i], "=")
		if _, err := loadCompose(t, env); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v, want an error naming it", name, err)
		}
	}
}

func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

func assertDepends(t *testing.T, s types.ServiceConfig, on, condition string) {
	t.Helper()
	if d, ok := s.DependsOn[on]; !ok || d.Condition != condition {
		t.Errorf("%s: depends on %s with %q, want %q", s.Name, on, d.Condition, condition)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
