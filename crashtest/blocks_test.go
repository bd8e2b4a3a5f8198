package crashtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopnet/coopnet/testrig"
)

// TestBlockCommandsWhileServing drives block-domain, blocks --json and
// unblock-domain as an operator would, from a separate process while
// coopnet serve runs: the running node refuses the domain within seconds
// (it polls the blocks table) and accepts it again after the unblock.
func TestBlockCommandsWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:%d\"\nbase_url = %q\n[storage]\npath = %q\n[federation]\nallow_private_addresses = true\nallow_insecure_http = true\n[log]\nlevel = \"warn\"\n",
		port, base, filepath.Join(dir, "coopnet.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	srv := &server{t: t, bin: bin, cfg: cfgPath, url: base, logf: logf}
	t.Cleanup(func() { srv.kill(syscall.SIGKILL) })
	if out, err := srv.run("actor", "create", "acoop"); err != nil {
		t.Fatalf("actor create: %v\n%s", err, out)
	}
	srv.start()
	clock := testrig.NewClock()
	p := testrig.NewPeer(t, clock, "spammer")
	follow := func() int {
		status, _ := p.Post(base+"/users/acoop/inbox", map[string]any{"id": p.NewID(), "type": "Follow", "actor": p.ActorIRI, "object": base + "/users/acoop"})
		return status
	}
	if s := follow(); s != http.StatusAccepted {
		t.Fatalf("follow: %d", s)
	}
	p.WaitFor("Accept", 1, 10*time.Second)

	out, err := srv.run("block-domain", p.Host(), "--reason", "spam")
	if err != nil || !strings.Contains(out, "blocked "+p.Host()+": 1 follows removed") {
		t.Fatalf("block-domain: %v\n%s", err, out)
	}
	testrig.Eventually(t, 10*time.Second, "running node refuses the blocked host", func() bool { return follow() == http.StatusForbidden })

	out, err = srv.run("blocks", "--json")
	if err != nil {
		t.Fatalf("blocks: %v\n%s", err, out)
	}
	var list []map[string]string
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("blocks --json: %v\n%s", err, out)
	}
	if len(list) != 1 || list[0]["host"] != p.Host() || list[0]["reason"] != "spam" || list[0]["created"] == "" {
		t.Errorf("blocks --json = %v", list)
	}
	if out, err := srv.run("block-domain", "not a host"); err == nil {
		t.Errorf("block-domain of a bad host succeeded: %s", out)
	}

	if out, err := srv.run("unblock-domain", p.Host()); err != nil {
		t.Fatalf("unblock-domain: %v\n%s", err, out)
	}
	testrig.Eventually(t, 10*time.Second, "running node accepts the host again", func() bool { return follow() == http.StatusAccepted })
	if out, err := srv.run("blocks", "--json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("blocks after unblock: %v %q", err, out)
	}
}
