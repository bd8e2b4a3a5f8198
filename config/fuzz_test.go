package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/config"
)

// FuzzParse feeds arbitrary files (and one environment variable) to the
// loader: whatever an operator writes, the start must end in a config or
// an error, never a panic, and an accepted config must satisfy the
// invariants the rest of the node relies on.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../config.example.toml"); err == nil {
		f.Add(data, "")
	}
	f.Add([]byte(minimal), "COOPNET_SERVER_LISTEN=0.0.0.0:1")
	f.Add([]byte("[server]\nbase_url = \"https://x/\"\n[[actors]]\nusername = \"a\"\n"), "COOPNET_SERVER_TRUSTED_PROXIES=10.0.0.0/8,::1")
	f.Fuzz(func(t *testing.T, data []byte, env string) {
		cfg, _, err := config.Parse(data, []string{env})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error without the config: prefix: %q", err)
			}
			return
		}
		if strings.HasSuffix(cfg.Server.BaseURL, "/") {
			t.Errorf("base_url %q keeps its trailing slash", cfg.Server.BaseURL)
		}
		if cfg.Host() == "" {
			t.Errorf("accepted base_url %q has no host", cfg.Server.BaseURL)
		}
		// Validation must be stable: serve validates what Parse returned.
		if err := cfg.Validate(); err != nil {
			t.Errorf("accepted config fails validation again: %v", err)
		}
	})
}
