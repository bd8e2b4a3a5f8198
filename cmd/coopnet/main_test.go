package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopnet/coopnet/node"
)

// syncBuffer is a bytes.Buffer safe to write from a serving goroutine and
// read from the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what one command line produced.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs one command line in-process, as main would, with environ as
// the whole environment.
func cli(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	var out, errOut syncBuffer
	code := run(context.Background(), &cliEnv{stdout: &out, stderr: &errOut, environ: environ}, args)
	return result{code, out.String(), errOut.String()}
}

// writeConfig writes a config for a node on port (its base_url too) with
// its database beside the file, plus extra TOML, and returns its path.
func writeConfig(t *testing.T, port int, extra string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	toml := fmt.Sprintf(`[server]
listen = "127.0.0.1:%d"
base_url = "http://127.0.0.1:%d"
shutdown_timeout = "5s"
[storage]
path = %q
[log]
level = "warn"
%s`, port, port, filepath.Join(dir, "coopnet.db"), extra)
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort returns a loopback port that was free a moment ago: listen on
// :0, note the port, close.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestActorCreateAndList(t *testing.T) {
	cfg := writeConfig(t, 8080, "")
	// Flags after the positional argument, repeated --region, -config last.
	r := cli(t, nil, "actor", "create", "barcoop", "--name", "Bar Co-op", "--region", "X", "--region", "Y", "--category", "hosting", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stdout != "created @barcoop@127.0.0.1:8080\nhttp://127.0.0.1:8080/users/barcoop\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q, want nothing on success", r.stderr)
	}
	// Flags before the argument work as well.
	if r := cli(t, nil, "actor", "create", "-config", cfg, "--manual-approval", "acoop"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	// And before the subcommand of a group.
	cfg2 := writeConfig(t, 8081, "")
	if r := cli(t, nil, "actor", "-config", cfg2, "create", "early"); r.code != 0 {
		t.Fatalf("-config before the subcommand: exit %d: %s", r.code, r.stderr)
	}
	if r := cli(t, nil, "actor", "--config="+cfg2, "show", "early", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"username": "early"`) {
		t.Fatalf("--config= before the subcommand: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}

	r = cli(t, nil, "actor", "list", "--json", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("actor list --json is not a JSON array: %v\n%s", err, r.stdout)
	}
	if len(list) != 2 {
		t.Fatalf("%d actors listed, want 2: %s", len(list), r.stdout)
	}
	bar := list[1]
	for k, want := range map[string]any{
		"username": "barcoop", "id": "http://127.0.0.1:8080/users/barcoop", "handle": "barcoop@127.0.0.1:8080", "name": "Bar Co-op",
		"manual_approval": false,
	} {
		if bar[k] != want {
			t.Errorf("%s = %#v, want %#v", k, bar[k], want)
		}
	}
	if regions, _ := bar["regions"].([]any); len(regions) != 2 || regions[0] != "X" || regions[1] != "Y" {
		t.Errorf("regions = %v", bar["regions"])
	}
	if list[0]["username"] != "acoop" || list[0]["name"] != "acoop" || list[0]["manual_approval"] != true {
		t.Errorf("first actor %v (name defaults to the username)", list[0])
	}

	// The table for people carries the same actors.
	r = cli(t, nil, "actor", "list", "-config", cfg)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "USERNAME") || !strings.Contains(r.stdout, "@barcoop@127.0.0.1:8080") {
		t.Errorf("actor list: %d %q", r.code, r.stdout)
	}

	r = cli(t, nil, "actor", "show", "barcoop", "--json", "-config", cfg)
	var one map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &one) != nil || one["name"] != "Bar Co-op" {
		t.Errorf("actor show --json: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestActorListEmpty(t *testing.T) {
	cfg := writeConfig(t, 8080, "")
	r := cli(t, nil, "actor", "list", "--json", "-config", cfg)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty list: %d %q, want []", r.code, r.stdout)
	}
}

func TestActorUpdateDelete(t *testing.T) {
	cfg := writeConfig(t, 8080, "")
	if r := cli(t, nil, "actor", "create", "barcoop", "--region", "X", "-config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := cli(t, nil, "actor", "update", "barcoop", "--name", "Renamed", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("update: %d %s", r.code, r.stderr)
	}
	r = cli(t, nil, "actor", "show", "barcoop", "--json", "-config", cfg)
	var a map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatal(err)
	}
	// Flags not given keep their values.
	if a["name"] != "Renamed" || fmt.Sprint(a["regions"]) != "[X]" {
		t.Errorf("after update: %v", a)
	}
	if r := cli(t, nil, "actor", "delete", "barcoop", "-config", cfg); r.code != 0 || !strings.Contains(r.stdout, "deleted @barcoop") {
		t.Fatalf("delete: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, nil, "actor", "show", "barcoop", "-config", cfg); r.code != 1 {
		t.Errorf("show of a deleted actor: exit %d", r.code)
	}
	// The username stays taken: its URL answers 410.
	if r := cli(t, nil, "actor", "create", "barcoop", "-config", cfg); r.code != 1 || !strings.Contains(r.stderr, "--username") {
		t.Errorf("re-create: %d %q", r.code, r.stderr)
	}
}

// TestErrors checks exit codes (1: the command failed, 2: the command
// line is wrong) and that messages go to stderr, naming what to fix.
func TestErrors(t *testing.T) {
	cfg := writeConfig(t, 8080, "")
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[server]\nbase_url = \"http://127.0.0.1:8080\"\nlistne = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"invalid username", []string{"actor", "create", "Bad User!", "-config", cfg}, 1, "--username"},
		{"username too long", []string{"actor", "create", strings.Repeat("a", 31), "-config", cfg}, 1, "--username"},
		{"bad icon", []string{"actor", "create", "ok", "--icon", "logo.png", "-config", cfg}, 1, "--icon"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"actor", "frobnicate"}, 2, `unknown subcommand "frobnicate"`},
		{"unknown flag", []string{"actor", "list", "--colour", "-config", cfg}, 2, "colour"},
		{"missing argument", []string{"actor", "create", "-config", cfg}, 2, "missing argument"},
		{"extra argument", []string{"actor", "create", "a", "b", "-config", cfg}, 2, `unexpected argument "b"`},
		{"unknown config key", []string{"actor", "list", "-config", bad}, 1, "server.listne"},
		{"missing config", []string{"actor", "list", "-config", filepath.Join(t.TempDir(), "none.toml")}, 1, "none.toml"},
		{"unknown actor", []string{"actor", "show", "nobody", "-config", cfg}, 1, "nobody"},
		{"serve with unknown config key", []string{"serve", "-config", bad}, 1, "server.listne"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing on failure", r.stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}} {
		r := cli(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: coopnet COMMAND") || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "  "+c.name+" ") {
				t.Errorf("%v: usage does not list %s", args, c.name)
			}
		}
	}
	// Every command has --help, printed on stdout with exit 0.
	for _, c := range commands() {
		if c.name == "help" {
			continue
		}
		r := cli(t, nil, c.name, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: coopnet "+c.name) {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q", c.name, r.code, r.stdout, r.stderr)
		}
	}
	for _, sub := range []string{"create", "list", "show", "update", "delete"} {
		r := cli(t, nil, "actor", sub, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: coopnet actor "+sub) {
			t.Errorf("actor %s --help: exit %d, stdout %q", sub, r.code, r.stdout)
		}
	}
	r := cli(t, nil, "actor", "create", "--help")
	for _, flag := range []string{"-name", "-summary", "-region", "-category", "-language", "-manual-approval", "-icon", "-config"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("actor create --help does not document %s", flag)
		}
	}
	if r := cli(t, nil, "help", "actor"); r.code != 0 || !strings.Contains(r.stdout, "create USERNAME") {
		t.Errorf("help actor: %d %q", r.code, r.stdout)
	}
}

func TestVersion(t *testing.T) {
	r := cli(t, nil, "version")
	if r.code != 0 || r.stdout != "coopnet "+node.Version+"\n" {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
}

// TestEnvironment: COOPNET_ variables apply over the file, and an unknown
// one is a warning on stderr that does not stop the command.
func TestEnvironment(t *testing.T) {
	cfg := writeConfig(t, 8080, "")
	env := []string{"COOPNET_SERVER_BASE_URL=https://coop.example", "COOPNET_SERVER_FUTURE=1"}
	r := cli(t, env, "actor", "create", "barcoop", "-config", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "@barcoop@coop.example") {
		t.Errorf("stdout %q, want the handle from the environment's base_url", r.stdout)
	}
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "COOPNET_SERVER_FUTURE") {
		t.Errorf("stderr %q, want a warning naming COOPNET_SERVER_FUTURE", r.stderr)
	}
	r = cli(t, []string{"COOPNET_DELIVERY_WORKERS=many"}, "actor", "list", "-config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "delivery.workers") {
		t.Errorf("bad variable: %d %q", r.code, r.stderr)
	}
}

func TestFollowListsEmpty(t *testing.T) {
	cfg := writeConfig(t, 8080, "")
	if r := cli(t, nil, "actor", "create", "barcoop", "-config", cfg); r.code != 0 {
		t.Fatal(r.stderr)
	}
	for _, c := range []string{"followers", "following", "follow-requests"} {
		r := cli(t, nil, c, "barcoop", "--json", "-config", cfg)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("%s --json: %d %q %q", c, r.code, r.stdout, r.stderr)
		}
	}
	r := cli(t, nil, "deliveries", "--json", "-config", cfg)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("deliveries --json: %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestServe runs `coopnet serve` in-process on a free loopback port, as an
// operator would start it, checks the node the fediverse sees, creates a
// co-op with the CLI while it runs, and stops it as SIGINT would.
func TestServe(t *testing.T) {
	port := freePort(t)
	cfg := writeConfig(t, port, `
[[actors]]
username = "democoop"
name = "Demo Tech Co-op"
regions = ["Ontario"]
`)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	host := fmt.Sprintf("127.0.0.1:%d", port)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cliEnv{stdout: &out, stderr: &errOut}, []string{"serve", "-config", cfg})
	}()

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(u, accept string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get(base+"/healthz", ""); code == 200 {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before answering: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz answer in time: %s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	webfinger := func(user string) (int, []byte) {
		return get(base+"/.well-known/webfinger?resource="+url.QueryEscape("acct:"+user+"@"+host), "")
	}
	code, body := webfinger("democoop")
	if code != 200 || !bytes.Contains(body, []byte(`"href":"`+base+`/users/democoop"`)) {
		t.Fatalf("webfinger democoop: %d %s", code, body)
	}
	if code, body := get(base+"/users/democoop", "application/activity+json"); code != 200 || !bytes.Contains(body, []byte(`"Demo Tech Co-op"`)) {
		t.Errorf("actor: %d %s", code, body)
	}

	// The CLI works on the database while serve has it open (WAL), and
	// the new co-op is visible at once.
	if r := cli(t, nil, "actor", "create", "barcoop", "--name", "Bar Co-op", "-config", cfg); r.code != 0 {
		t.Fatalf("actor create while serving: %d %s", r.code, r.stderr)
	}
	if code, body := webfinger("barcoop"); code != 200 {
		t.Errorf("webfinger barcoop: %d %s", code, body)
	}
	if code, _ := webfinger("nobody"); code != 404 {
		t.Errorf("webfinger nobody: %d", code)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited with %d after cancel: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	if out.String() != "" {
		t.Errorf("serve wrote to stdout: %q", out.String())
	}
	if code, _ := get(base+"/healthz", ""); code != 0 {
		t.Errorf("still answering after shutdown: %d", code)
	}

	// A restart keeps the co-ops and does not create the config's twice.
	r := cli(t, nil, "actor", "list", "--json", "-config", cfg)
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 {
		t.Errorf("after serve: %s %v", r.stdout, err)
	}
}

// TestServeBusyPort: a taken port stops serve with a message naming the
// key to change.
func TestServeBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := writeConfig(t, l.Addr().(*net.TCPAddr).Port, "")
	r := cli(t, nil, "serve", "-config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "server.listen") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
