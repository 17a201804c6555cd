package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// TestServePrintsOnlyGeneratedSecrets: serve prints the development
// secrets it generated, and never a secret that came from the
// environment (nor a webhook signed with it).
func TestServePrintsOnlyGeneratedSecrets(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	delete(env, "WA_VERIFY_TOKEN")
	delete(env, "WAGW_ADMIN_TOKEN")
	p := startServe(t, env)
	p.stop(t)
	out := p.out.String()

	b, err := os.ReadFile(filepath.Join(env["WAGW_DATA_DIR"], "dev-secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dev devSecrets
	if err := json.Unmarshal(b, &dev); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"generated verify token": dev.VerifyToken, "generated admin token": dev.AdminToken} {
		if v == "" || !strings.Contains(out, v) {
			t.Errorf("serve did not print the %s %q:\n%s", name, v, out)
		}
	}
	if strings.Contains(out, e2eAppSecret) {
		t.Errorf("serve printed the app secret from WA_APP_SECRET:\n%s", out)
	}
	if regexp.MustCompile(`sha256=[0-9a-f]{64}`).MatchString(out) {
		t.Errorf("serve printed a webhook signed with the app secret from WA_APP_SECRET:\n%s", out)
	}
}

// TestFillDevSecretsKeepsTheEnvironment: with every secret configured,
// nothing is generated and no file is written.
func TestFillDevSecretsKeepsTheEnvironment(t *testing.T) {
	cfg := config{DataDir: t.TempDir(), AppSecrets: []string{"a"}, VerifyToken: "v", AdminToken: "t"}
	gen, err := fillDevSecrets(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if gen.any() || cfg.AppSecrets[0] != "a" || cfg.VerifyToken != "v" || cfg.AdminToken != "t" {
		t.Errorf("generated %+v, config %+v", gen, cfg)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "dev-secrets.json")); !os.IsNotExist(err) {
		t.Errorf("dev-secrets.json written although every secret was configured: %v", err)
	}
}

// TestImageDefaultNeedsConfiguration runs the Docker image's default
// command with nothing configured but where to listen and which
// database to use: it must refuse to start, naming what is missing,
// rather than serve with development secrets.
func TestImageDefaultNeedsConfiguration(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CMD (\[.*\])\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("the Dockerfile has no CMD [...] line")
	}
	var args []string
	if err := json.Unmarshal(m[1], &args); err != nil {
		t.Fatalf("CMD %s: %v", m[1], err)
	}
	dsn, _ := newTestDB(t)
	env := map[string]string{"WAGW_HTTP_ADDR": freeTCPAddr(t), "KAFKA_EMBEDDED_ADDR": freeTCPAddr(t), "WAGW_SIMULATOR_ADDR": freeTCPAddr(t),
		"WAGW_DATA_DIR": t.TempDir(), "DATABASE_URL": dsn, "WAGW_LOG_LEVEL": "error"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := &wagwtest.SyncBuffer{}
	err = run(ctx, args, func(k string) string { return env[k] }, out, out)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("the image's default command %v started without configuration (err %v); output:\n%s", args, err, out)
	}
	if !strings.Contains(err.Error(), "WA_APP_SECRET") {
		t.Errorf("the image's default command %v refused with %q, which does not say what to configure", args, err)
	}
}
