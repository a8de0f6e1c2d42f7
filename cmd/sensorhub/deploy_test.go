package main

import (
	"debug/elf"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/testenv"
	"go.yaml.in/yaml/v3"
)

// TestComposeConfigs: every sensorhub configuration that the compose files
// mount passes sensorhub check, and every file they mount exists.
func TestComposeConfigs(t *testing.T) {
	checked := 0
	for _, compose := range []string{"../../docker-compose.yml", "../../deploy/compose/split.yml"} {
		raw, err := os.ReadFile(compose)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Services map[string]struct {
				Command []string `yaml:"command"`
				Volumes []string `yaml:"volumes"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(raw, &f); err != nil {
			t.Fatalf("%s: %v", compose, err)
		}
		for name, svc := range f.Services {
			for _, v := range svc.Volumes {
				parts := strings.Split(v, ":")
				if !strings.HasPrefix(parts[0], ".") {
					continue // a named volume
				}
				host := filepath.Join(filepath.Dir(compose), parts[0])
				if _, err := os.Stat(host); err != nil {
					t.Errorf("%s: service %s mounts %s: %v", compose, name, parts[0], err)
					continue
				}
				if parts[1] != "/etc/sensorhub/sensorhub.yaml" {
					continue
				}
				cmd := exec.Command(binary, "check", "--config", host)
				cmd.Env = append(os.Environ(), "HOSTNAME=sensorhub-test", "POSTGRES_PASSWORD=secret",
					"MQTT_PASSWORD_HASH=$2a$10$6vA0TAVoIBUVRqwLEy6tVejmwy4Kr7moa22Z35.dZyQUXMnhk6pu.",
					"SENSORHUB_ADMIN_PASSWORD_HASH=$2a$10$6vA0TAVoIBUVRqwLEy6tVejmwy4Kr7moa22Z35.dZyQUXMnhk6pu.")
				out, err := cmd.CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "ok" {
					t.Errorf("%s: service %s: sensorhub check --config %s: %v\n%s", compose, name, parts[0], err, out)
				}
				if len(svc.Command) == 0 || !strings.Contains(strings.Join(svc.Command, " "), "--config /etc/sensorhub/sensorhub.yaml") {
					t.Errorf("%s: service %s runs %q, not with the mounted configuration", compose, name, svc.Command)
				}
				checked++
			}
		}
	}
	// One in the all-in-one file, four roles in the split one.
	if checked != 5 {
		t.Errorf("checked %d mounted configurations, want 5", checked)
	}
	conf, err := os.ReadFile("../../deploy/compose/mosquitto.conf")
	if err != nil || !strings.Contains(string(conf), "max_queued_messages 1000000") {
		t.Errorf("the split deployment's Mosquitto keeps its lossy default queue limit: %v", err)
	}
}

// TestStaticBuild: the binary the Dockerfile builds (CGO off) needs no
// dynamic loader or shared library, so it runs on a distroless or
// scratch image and on ARM gateways.
func TestStaticBuild(t *testing.T) {
	testenv.Slow(t)
	out := filepath.Join(t.TempDir(), "sensorhub")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("the binary is dynamically linked (%v)", p.Type)
		}
	}
	docker, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER nonroot", `"health", "--url", "http://127.0.0.1:8080/healthz"`} {
		if !strings.Contains(string(docker), want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
}

// TestHealthCommand is the container's health check: exit 0 on 200, 1
// otherwise.
func TestHealthCommand(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	if out, err := exec.Command(binary, "health", "--url", srv.URL+"/healthz").CombinedOutput(); err != nil {
		t.Errorf("healthy: %v: %s", err, out)
	}
	status = http.StatusServiceUnavailable
	out, err := exec.Command(binary, "health", "--url", srv.URL+"/healthz").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "503") {
		t.Errorf("unhealthy: %v: %s", err, out)
	}
}
