// Package e2e verifies the deployment artifacts without a Docker engine: the compose file
// through the Compose specification's own loader, the Dockerfile through BuildKit's parser,
// and the real binary, nginx and a browser on loopback.
package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv([]string{"POSTGRES_PASSWORD=pw", "JWT_SECRET=" + strings.Repeat("s", 40), "LLM_MODEL=m"}),
		cli.WithName("assistant"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t)
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		return s
	}
	for _, name := range []string{"postgres", "redis", "api", "nginx"} {
		if svc(name).HealthCheck == nil || len(svc(name).HealthCheck.Test) == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	if len(svc("postgres").Volumes) == 0 || svc("postgres").Volumes[0].Type != types.VolumeTypeVolume {
		t.Error("postgres data is not on a named volume")
	}

	migrate := svc("migrate")
	if strings.Join(migrate.Command, " ") != "migrate" || migrate.Restart != "no" ||
		migrate.DependsOn["postgres"].Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate: command %v restart %q depends %v", migrate.Command, migrate.Restart, migrate.DependsOn)
	}

	api := svc("api")
	if strings.Join(api.Command, " ") != "serve" {
		t.Errorf("api command %v", api.Command)
	}
	if api.DependsOn["migrate"].Condition != types.ServiceConditionCompletedSuccessfully ||
		api.DependsOn["redis"].Condition != types.ServiceConditionHealthy {
		t.Errorf("api depends on %v", api.DependsOn)
	}
	if api.Restart == "" || api.Restart == "no" {
		t.Errorf("api restart policy %q", api.Restart)
	}
	// Several replicas: no fixed name or host port.
	if api.ContainerName != "" || len(api.Ports) != 0 {
		t.Errorf("api has container_name %q or ports %v: it cannot be scaled", api.ContainerName, api.Ports)
	}
	if !api.ReadOnly || !slices.Contains(api.CapDrop, "ALL") || !slices.Contains(api.SecurityOpt, "no-new-privileges:true") ||
		!slices.Contains([]string(api.Tmpfs), "/tmp") {
		t.Errorf("api hardening: read_only %v cap_drop %v security_opt %v tmpfs %v", api.ReadOnly, api.CapDrop, api.SecurityOpt, api.Tmpfs)
	}
	targets := map[string]string{}
	for _, v := range api.Volumes {
		targets[v.Target] = v.Type + ":" + v.Source
	}
	if targets["/data/uploads"] != "volume:uploads" || targets["/data/exports"] != "volume:exports" {
		t.Errorf("api volumes %v", targets)
	}
	env := api.Environment
	get := func(k string) string {
		if v := env[k]; v != nil {
			return *v
		}
		return ""
	}
	// Every setting of .env.example reaches the api.
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(example), "\n") {
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if _, ok := env[k]; !ok {
			t.Errorf("api does not get %s", k)
		}
	}
	if get("RATE_LIMIT_BACKEND") != "redis" || !strings.HasPrefix(get("REDIS_URL"), "redis://redis:") ||
		get("UPLOAD_DIR") != "/data/uploads" || get("APP_ENV") != "production" {
		t.Errorf("api environment: %v", env)
	}

	nginx := svc("nginx")
	if len(nginx.Ports) != 1 || nginx.Ports[0].Target != 8080 || nginx.DependsOn["api"].Condition != types.ServiceConditionHealthy {
		t.Errorf("nginx ports %v depends %v", nginx.Ports, nginx.DependsOn)
	}
	var conf *types.ServiceVolumeConfig
	for i, v := range nginx.Volumes {
		if v.Target == "/etc/nginx/assistant" {
			conf = &nginx.Volumes[i]
		}
	}
	if conf == nil || !conf.ReadOnly || !strings.HasSuffix(conf.Source, "/nginx") {
		t.Errorf("nginx config mount %+v", conf)
	}
	if got := strings.Join(nginx.Command, " "); got != "nginx -c /etc/nginx/assistant/nginx.conf -g daemon off;" {
		t.Errorf("nginx command %q", got)
	}
	// Every image a user pulls is the official one by default, and every one can be replaced.
	for name, want := range map[string]string{"postgres": "postgres:15", "redis": "redis:7", "nginx": "nginx:1.27"} {
		if got := svc(name).Image; got != want {
			t.Errorf("%s image %q, want %q by default", name, got, want)
		}
	}
	for name, s := range p.Services {
		if s.Logging == nil || s.Logging.Driver != "json-file" || s.Logging.Options["max-size"] == "" {
			t.Errorf("%s: logs not rotated: %+v", name, s.Logging)
		}
	}
	for name, s := range p.Services {
		if name != "nginx" && len(s.Ports) > 0 {
			t.Errorf("%s publishes ports %v; only nginx should", name, s.Ports)
		}
	}
}
