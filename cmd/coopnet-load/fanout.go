package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/federation"
)

type fanoutFlags struct {
	target, actor, actorURL string
	coopnet, config         string
	followers, hosts, keys  int
	concurrency             int
	wait                    time.Duration
	verify                  bool
	publish                 string
	pid                     int
}

func runFanout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f fanoutFlags
	fs := flag.NewFlagSet("coopnet-load fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.target, "target", "http://127.0.0.1:8080", "base URL of the running node (coopnet serve)")
	fs.StringVar(&f.actor, "actor", "democoop", "local `username` that is followed and broadcasts")
	fs.StringVar(&f.actorURL, "actor-url", "", "id of that local actor (skips WebFinger)")
	fs.StringVar(&f.coopnet, "coopnet", "coopnet", "`path` of the coopnet binary, run to trigger the broadcast")
	fs.StringVar(&f.config, "config", "config.toml", "config `file` the node runs with (COOPNET_* variables are passed on)")
	fs.IntVar(&f.followers, "followers", 10000, "followers F")
	fs.IntVar(&f.hosts, "hosts", 1000, "hosts H the followers are spread over (each a loopback listener with a shared inbox)")
	fs.IntVar(&f.keys, "keys", 16, "distinct RSA-2048 keys shared by the followers")
	fs.IntVar(&f.concurrency, "concurrency", 32, "Follows in flight during setup")
	fs.DurationVar(&f.wait, "wait", 10*time.Minute, "give up when setup or delivery takes longer")
	fs.BoolVar(&f.verify, "verify", true, "verify the signature of every broadcast delivery (RSA verify, ~0.04 ms each)")
	// An actor Update travels to the followers exactly as a tender does
	// (one delivery per shared inbox); it stays available for nodes built
	// before `coopnet tender publish` existed.
	fs.IntVar(&f.pid, "pid", 0, "the node's process id: report the CPU seconds it spent on the broadcast (Linux /proc)")
	fs.StringVar(&f.publish, "publish", "tender", "what to broadcast: tender (coopnet tender publish; the fake followers are coopnet peers, so they get the Offer) or update (coopnet actor update)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if f.followers < f.hosts {
		return fmt.Errorf("-followers must be at least -hosts")
	}
	if _, err := exec.LookPath(f.coopnet); err != nil {
		return fmt.Errorf("-coopnet: %w (build it: go build -o /tmp/coopnet ./cmd/coopnet)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*f.wait)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: f.concurrency * 2}}
	var err error
	if f.actorURL == "" {
		if f.actorURL, err = resolveActor(ctx, client, f.target, f.actor); err != nil {
			return err
		}
	}
	if n, err := followerCount(ctx, client, f.actorURL); err == nil && n > 0 {
		fmt.Fprintf(stderr, "warning: %s already has %d followers (an earlier run?): their dead hosts will slow the broadcast; use a fresh database\n", f.actorURL, n)
	}

	fmt.Fprintf(stderr, "starting %d fake hosts with %d followers (%d keys)...\n", f.hosts, f.followers, f.keys)
	fn, err := newFakeNet(ctx, f.hosts, f.followers, f.keys, "f")
	if err != nil {
		return err
	}
	defer fn.close()
	if f.verify {
		fn.verifier = federation.NewVerifier(&nodeKeys{client: client, cache: map[string]*federation.PublicKey{}})
	}

	// Setup: every follower sends a signed Follow; the node fetches each
	// follower's actor, stores it and delivers an Accept to its inbox.
	inbox := strings.TrimSuffix(f.target, "/") + "/inbox"
	setup := time.Now()
	st := newStats(f.followers)
	stopProgress := progressFn(stderr, func() string {
		acc, errs := st.snapshot()
		return fmt.Sprintf("follows accepted=%d errors=%d, Accepts received=%d/%d", acc, errs, fn.accepts.Load(), f.followers)
	})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range f.concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(fn.actors) {
					return
				}
				a := fn.actors[i]
				s, err := signActivity(a, inbox, follow(a, f.actorURL))
				if err != nil {
					st.record(0, 0, err)
					continue
				}
				status, err := post(ctx, client, s)
				st.record(status, 0, err)
			}
		})
	}
	wg.Wait()
	if _, errs := st.snapshot(); errs > 0 {
		stopProgress()
		return fmt.Errorf("%d Follows refused: %s (last error %q)%s", errs, st.summary(), st.lastErr, hint429(st))
	}
	deadline := time.Now().Add(f.wait)
	for fn.accepts.Load() < int64(f.followers) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopProgress()
			return fmt.Errorf("only %d of %d Accepts arrived within -wait %s", fn.accepts.Load(), f.followers, f.wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopProgress()
	fmt.Fprintf(stderr, "setup: %d followers accepted in %s\n", f.followers, secs(time.Since(setup)))
	// Let the node record the last Accept deliveries before the clock runs.
	time.Sleep(2 * time.Second)

	// The bound: the node signs once per delivery, one delivery per shared
	// inbox, so H signatures on this machine's cores.
	bound := signBound(f.hosts)
	fmt.Fprintf(stderr, "RSA-2048 bound: %d signatures on %d cores take %s\n", f.hosts, runtime.GOMAXPROCS(0), secs(bound))

	want := "Offer"
	if f.publish == "update" {
		want = "Update"
	}
	fn.expectBroadcast(want, f.actorURL)
	cmd, err := triggerCommand(ctx, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "broadcast: %s\n", strings.Join(cmd.Args, " "))
	stopProgress = progressFn(stderr, func() string {
		return fmt.Sprintf("hosts reached=%d/%d bad_signatures=%d", fn.hostsReached.Load(), f.hosts, fn.badSigs.Load())
	})
	meter := cpuMeter{pid: f.pid}
	cpu0 := meter.sample()
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	queued := time.Since(t0)
	if err != nil {
		stopProgress()
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	select {
	case <-fn.reachedAll():
	case <-time.After(f.wait):
	case <-ctx.Done():
	}
	stopProgress()
	cpu1 := meter.sample()
	reached := fn.hostsReached.Load()
	total := time.Duration(fn.lastAt.Load() - t0.UnixNano())
	first := time.Duration(fn.firstAt.Load() - t0.UnixNano())
	if reached == 0 {
		total, first = 0, 0
	}
	spread := total - first
	rate := 0.0
	if spread > 0 {
		rate = float64(reached) / spread.Seconds()
	}
	ratio := total.Seconds() / bound.Seconds()
	// The node, the CLI and this command's fake hosts share the cores, so
	// total mixes their work. CPU seconds split it: node_ratio is what
	// the node and the CLI would take alone on these cores (their CPU
	// time spread over all cores) over the bound.
	cores := runtime.GOMAXPROCS(0)
	cliCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	cpuLine := "cli_cpu=" + secs(cliCPU) + " load_cpu=" + secs(cpu1.self-cpu0.self)
	if n, ok := nodeCPU(cpu0, cpu1); ok {
		alone := (n + cliCPU) / time.Duration(cores)
		cpuLine = fmt.Sprintf("node_cpu=%s %s node_ratio=%.2f", secs(n), cpuLine, alone.Seconds()/bound.Seconds())
	}
	fmt.Fprintf(stdout, "fanout published=%s followers=%d hosts=%d reached=%d total=%s queued=%s first=%s spread=%s rate=%.1f/s sign_bound=%s ratio=%.2f bad_signatures=%d cores=%d %s\n",
		f.publish, f.followers, f.hosts, reached, secs(total), secs(queued), secs(first), secs(spread), rate, secs(bound), ratio, fn.badSigs.Load(), cores, cpuLine)
	if reached < int64(f.hosts) {
		return fmt.Errorf("only %d of %d hosts got the broadcast within -wait %s", reached, f.hosts, f.wait)
	}
	return nil
}

// triggerCommand builds the CLI call that queues the broadcast.
func triggerCommand(ctx context.Context, f fanoutFlags) (*exec.Cmd, error) {
	var args []string
	switch f.publish {
	case "update":
		args = []string{"actor", "update", f.actor, "--summary", "Load test broadcast " + time.Now().UTC().Format(time.RFC3339Nano), "-config", f.config}
	case "tender":
		now := time.Now().UTC()
		args = []string{"tender", "publish", "--as", f.actor,
			"--title", "Load test tender " + now.Format(time.RFC3339Nano),
			"--description", "Website rebuild, three years of hosting and staff training (coopnet-load fanout).",
			"--deadline", now.Add(30 * 24 * time.Hour).Format(time.RFC3339),
			"--category", "web-development", "--region", "Ontario",
			"-config", f.config}
	default:
		return nil, fmt.Errorf("-publish: %q is neither update nor tender", f.publish)
	}
	cmd := exec.CommandContext(ctx, f.coopnet, args...)
	cmd.Env = os.Environ()
	return cmd, nil
}

// followerCount reads totalItems of the actor's followers collection.
func followerCount(ctx context.Context, c *http.Client, actor string) (int, error) {
	body, err := getJSON(ctx, c, actor+"/followers")
	if err != nil {
		return 0, err
	}
	var coll struct {
		TotalItems int `json:"totalItems"`
	}
	if err := json.Unmarshal(body, &coll); err != nil {
		return 0, err
	}
	return coll.TotalItems, nil
}

// signBound measures n RSA-2048 PKCS#1 v1.5 signatures spread over all
// cores: the least time any server needs to sign n deliveries here.
func signBound(n int) time.Duration {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0
	}
	sum := sha256.Sum256([]byte("coopnet"))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				_, _ = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// runSign prints the signing bound on its own.
func runSign(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coopnet-load sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1000, "signatures")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	d := signBound(*n)
	fmt.Fprintf(stdout, "sign n=%d cores=%d total=%s per_sign=%s rate=%.1f/s\n", *n, runtime.GOMAXPROCS(0), secs(d), ms(d/time.Duration(*n)), float64(*n)/d.Seconds())
	return nil
}

// progressFn prints line() every second on stderr until stopped.
func progressFn(w io.Writer, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "  %3.0fs %s\n", time.Since(start).Seconds(), line())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
