package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sluice.yaml")
	yaml := "data-dir: /from/file\nbroker-id: 7\nsession-ttl: 9s\ncluster: filecluster\ntopic-defaults:\n  sync.policy: always\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLUICE_BROKER_ID": "8", "SLUICE_CLUSTER": "envcluster"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	settings := serveSettings()
	flagVals := map[string]*string{}
	for _, s := range settings {
		v := s.def
		flagVals[s.name] = &v
	}
	*flagVals["cluster"] = "flagcluster"
	cfg, err := resolveServeConfig(settings, flagVals, map[string]bool{"cluster": true}, file, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" || cfg.ID != 8 || cfg.Cluster != "flagcluster" || cfg.SessionTTL != 9*time.Second ||
		cfg.TopicDefaults["sync.policy"] != "always" || cfg.Listen != "127.0.0.1:9400" {
		t.Fatalf("precedence wrong: %+v", cfg)
	}
	if err := os.WriteFile(file, []byte("data-dri: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveServeConfig(settings, flagVals, nil, file, lookup); err == nil || !strings.Contains(err.Error(), `unknown setting "data-dri"`) {
		t.Fatalf("misspelt key: %v", err)
	}
	env["SLUICE_SESSION_TTL"] = "forever"
	if _, err := resolveServeConfig(settings, flagVals, nil, "", lookup); err == nil || !strings.Contains(err.Error(), "session-ttl") {
		t.Fatalf("bad env value: %v", err)
	}
}
