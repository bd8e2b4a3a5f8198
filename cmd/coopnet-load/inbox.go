package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/google/uuid"
)

// signed is one activity signed ahead of the measurement: signing costs
// about 1 ms of CPU (RSA-2048), far more than the node spends accepting
// it, so signing during the run would measure the load command instead of
// the node. The signature's Date stays valid for the node's ±1 h window.
type signed struct {
	url    string
	body   []byte
	header http.Header
}

type inboxFlags struct {
	target, actor, actorURL string
	concurrency, count      int
	duration                time.Duration
	rate                    float64
	hosts, actors, keys     int
	presign                 int
	mix                     string
	timeout                 time.Duration
	pid                     int
}

func runInbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f inboxFlags
	fs := flag.NewFlagSet("coopnet-load inbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.target, "target", "http://127.0.0.1:8080", "base URL of the node")
	fs.StringVar(&f.actor, "actor", "democoop", "local `username` the replies and Follows are addressed to (resolved by WebFinger)")
	fs.StringVar(&f.actorURL, "actor-url", "", "id of that local actor (skips WebFinger)")
	fs.IntVar(&f.concurrency, "concurrency", 64, "requests in flight")
	fs.DurationVar(&f.duration, "duration", 20*time.Second, "how long to send (ignored with -count)")
	fs.IntVar(&f.count, "count", 0, "send exactly N activities (0: for -duration)")
	fs.Float64Var(&f.rate, "rate", 0, "fixed arrival rate in activities/s (0: as fast as -concurrency allows); latency is then measured from each request's scheduled time")
	fs.IntVar(&f.hosts, "hosts", 5, "fake remote hosts (loopback listeners)")
	fs.IntVar(&f.actors, "actors", 50, "fake remote actors, spread over the hosts")
	fs.IntVar(&f.keys, "keys", 8, "distinct RSA-2048 keys shared by the actors")
	fs.IntVar(&f.presign, "presign", 50000, "activities signed ahead in -duration mode without -rate (the run stops early if they run out)")
	fs.IntVar(&f.pid, "pid", 0, "the node's process id: report the CPU seconds it spent (Linux /proc)")
	fs.StringVar(&f.mix, "mix", "note=50,offer=30,follow=20", "percentages of Create{Note} replies, Offer{Tender} and Follow")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-request timeout")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	mix, err := parseMix(f.mix)
	if err != nil {
		return err
	}
	n := f.count
	switch {
	case n > 0:
	case f.rate > 0:
		n = int(f.rate*f.duration.Seconds()) + 1
	default:
		n = f.presign
	}

	client := &http.Client{Timeout: f.timeout, Transport: &http.Transport{
		MaxIdleConns: f.concurrency * 2, MaxIdleConnsPerHost: f.concurrency * 2, IdleConnTimeout: 90 * time.Second,
	}}
	if f.actorURL == "" {
		f.actorURL, err = resolveActor(ctx, client, f.target, f.actor)
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "local actor %s; starting %d fake actors on %d hosts (%d keys)\n", f.actorURL, f.actors, f.hosts, f.keys)
	fn, err := newFakeNet(ctx, f.hosts, f.actors, f.keys, "load")
	if err != nil {
		return err
	}
	defer fn.close()
	inbox := strings.TrimSuffix(f.target, "/") + "/inbox"

	// Warm-up: one activity per actor, so the node has fetched and cached
	// every key before the clock starts (a key fetch is a one-off cost).
	fmt.Fprintf(stderr, "warm-up: %d activities (the node fetches each actor's key)\n", len(fn.actors))
	warm := make([]*signed, len(fn.actors))
	for i, a := range fn.actors {
		warm[i], err = signActivity(a, inbox, note(a, f.actorURL))
		if err != nil {
			return err
		}
	}
	ws := newStats(len(warm))
	send(ctx, client, warm, 8, 0, ws, nil)
	if acc, errs := ws.snapshot(); errs > 0 {
		return fmt.Errorf("warm-up: %d of %d refused (%s; last error %q)%s", errs, acc+errs, ws.summary(), ws.lastErr, hint429(ws))
	}

	fmt.Fprintf(stderr, "signing %d activities ahead on %d cores...\n", n, runtime.GOMAXPROCS(0))
	t0 := time.Now()
	reqs, err := presign(ctx, fn.actors, inbox, f.actorURL, n, mix, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "signed %d in %s (%.0f/s)\n", n, secs(time.Since(t0)), float64(n)/time.Since(t0).Seconds())

	st := newStats(n)
	var deadline time.Time
	if f.count == 0 && f.rate == 0 {
		deadline = time.Now().Add(f.duration)
	}
	stopProgress := progress(stderr, st)
	meter := cpuMeter{pid: f.pid}
	cpu0 := meter.sample()
	start := time.Now()
	sent := send(ctx, client, reqs, f.concurrency, f.rate, st, func() bool { return !deadline.IsZero() && time.Now().After(deadline) })
	elapsed := time.Since(start)
	cpuLine := meter.since(cpu0)
	stopProgress()
	acc, _ := st.snapshot()
	if f.count == 0 && f.rate == 0 && sent == len(reqs) {
		fmt.Fprintf(stderr, "note: the %d presigned activities ran out before -duration; raise -presign or use -count\n", len(reqs))
	}
	if h := hint429(st); h != "" {
		fmt.Fprintln(stderr, strings.TrimSpace(h))
	}
	fmt.Fprintf(stdout, "inbox sent=%d accepted=%d elapsed=%s rate=%.1f/s concurrency=%d target_rate=%g %s %s\n",
		sent, acc, secs(elapsed), float64(acc)/elapsed.Seconds(), f.concurrency, f.rate, st.summary(), cpuLine)
	return nil
}

// hint429 explains 429 answers: the node's own per-host rate limit.
func hint429(st *stats) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.status[http.StatusTooManyRequests] == 0 {
		return ""
	}
	return "\nhint: the node answered 429: turn its per-host inbox limit off for the measurement (limits.inbox_per_host = 0, or COOPNET_LIMITS_INBOX_PER_HOST=0)"
}

// parseMix reads "note=50,offer=30,follow=20" into cumulative weights.
func parseMix(s string) (map[string]int, error) {
	m := map[string]int{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("-mix: bad item %q", part)
		}
		switch k {
		case "note", "offer", "follow":
		default:
			return nil, fmt.Errorf("-mix: unknown kind %q (note, offer, follow)", k)
		}
		m[k] = n
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("-mix: all weights are zero")
	}
	return m, nil
}

// kindAt spreads the kinds over the sequence in the mix's proportions.
func kindAt(i int, mix map[string]int) string {
	total := mix["note"] + mix["offer"] + mix["follow"]
	r := (i * 37) % total // a stride, so kinds interleave
	switch {
	case r < mix["note"]:
		return "note"
	case r < mix["note"]+mix["offer"]:
		return "offer"
	default:
		return "follow"
	}
}

func newID(a *fakeActor, kind string) string {
	return a.IRI + "/" + kind + "/" + uuid.NewString()
}

// note is a Create{Note} reply addressed to the local actor, with a
// Mention: the shape of a clarification question (and of a Mastodon DM).
func note(a *fakeActor, local string) map[string]any {
	id := newID(a, "notes")
	return map[string]any{
		"@context": federation.ActivityStreamsContext,
		"id":       id + "/activity",
		"type":     "Create",
		"actor":    a.IRI,
		"to":       []string{local},
		"object": map[string]any{
			"id":           id,
			"type":         "Note",
			"attributedTo": a.IRI,
			"inReplyTo":    local,
			"to":           []string{local},
			"content":      "<p>Is the hosting lot open to co-ops outside Ontario? We run our own datacentre rack in Montréal.</p>",
			"tag":          []any{map[string]any{"type": "Mention", "href": local}},
			"published":    time.Now().UTC().Format(time.RFC3339),
		},
	}
}

// offer is Offer{Tender} from the peer to its followers, as a coopnet
// node publishes a tender.
func offer(a *fakeActor) map[string]any {
	id := newID(a, "tenders")
	now := time.Now().UTC()
	return map[string]any{
		"@context": []any{federation.ActivityStreamsContext, map[string]any{"coop": federation.Namespace, "Tender": "coop:Tender"}},
		"id":       id + "/offer",
		"type":     "Offer",
		"actor":    a.IRI,
		"to":       []string{federation.PublicAddress},
		"cc":       []string{a.IRI + "/followers"},
		// A whole tender as a coopnet node sends it, so the node parses,
		// checks and stores it (one with a field missing would be refused
		// by the worker and measure less than the real work).
		"object": map[string]any{
			"id":            id,
			"type":          "Tender",
			"attributedTo":  a.IRI,
			"name":          "Website rebuild and hosting for a food co-op",
			"content":       "<p>Rebuild of our member portal (Go or PHP), three years of hosting, training for staff.</p>",
			"url":           id,
			"status":        "active",
			"acceptingBids": true,
			"deadline":      now.Add(30 * 24 * time.Hour).Format(time.RFC3339),
			"categories":    []string{"web-development", "hosting", "training"},
			"regions":       []string{"Ontario"},
			"languages":     []string{"en", "fr"},
			"budget":        map[string]any{"minAmount": "10000.00", "maxAmount": "50000.00", "currency": "CAD"},
			"lots": []any{
				map[string]any{"id": id + "#lot-1", "type": "Lot", "name": "Portal rebuild", "region": "Ontario",
					"budget": map[string]any{"maxAmount": "30000.00", "currency": "CAD"}},
				map[string]any{"id": id + "#lot-2", "type": "Lot", "name": "Staff training", "region": "Ottawa"},
			},
			"published": now.Format(time.RFC3339),
			"to":        []string{federation.PublicAddress},
			"cc":        []string{a.IRI + "/followers"},
		},
	}
}

// follow is a Follow of the local actor.
func follow(a *fakeActor, local string) map[string]any {
	return map[string]any{
		"@context": federation.ActivityStreamsContext,
		"id":       newID(a, "follows"),
		"type":     "Follow",
		"actor":    a.IRI,
		"object":   local,
	}
}

// signActivity serialises and signs one activity for inbox.
func signActivity(a *fakeActor, inbox string, act map[string]any) (*signed, error) {
	body, err := json.Marshal(act)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", federation.ContentTypeActivity)
	if err := a.signer().SignRequest(req, body, time.Now()); err != nil {
		return nil, err
	}
	return &signed{url: inbox, body: body, header: req.Header}, nil
}

// presign signs n activities on all cores.
func presign(ctx context.Context, actors []*fakeActor, inbox, local string, n int, mix map[string]int, stderr io.Writer) ([]*signed, error) {
	out := make([]*signed, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(stderr, "  signed %d/%d\n", min(int(next.Load()), n), n)
			}
		}
	}()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				a := actors[i%len(actors)]
				var act map[string]any
				switch kindAt(i, mix) {
				case "note":
					act = note(a, local)
				case "offer":
					act = offer(a)
				default:
					act = follow(a, local)
				}
				s, err := signActivity(a, inbox, act)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				out[i] = s
			}
		})
	}
	wg.Wait()
	close(done)
	if firstErr != nil {
		return nil, firstErr
	}
	return out, ctx.Err()
}

// send posts reqs with at most concurrency in flight, either as fast as
// possible (rate 0) or on a fixed schedule (open loop: a request's latency
// counts from when it was due, so a stalled node cannot hide its queue).
// It stops early when stop returns true, and returns how many were sent.
func send(ctx context.Context, c *http.Client, reqs []*signed, concurrency int, rate float64, st *stats, stop func() bool) int {
	type job struct {
		s   *signed
		due time.Time
	}
	jobs := make(chan job, concurrency)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for j := range jobs {
				start := j.due
				if start.IsZero() {
					start = time.Now()
				}
				status, err := post(ctx, c, j.s)
				st.record(status, time.Since(start), err)
			}
		})
	}
	sent := 0
	start := time.Now()
	for i, s := range reqs {
		if ctx.Err() != nil || (stop != nil && stop()) {
			break
		}
		j := job{s: s}
		if rate > 0 {
			j.due = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(j.due); d > 0 {
				time.Sleep(d)
			}
		}
		jobs <- j
		sent++
	}
	close(jobs)
	wg.Wait()
	return sent
}

// post sends one presigned activity and returns the status.
func post(ctx context.Context, c *http.Client, s *signed) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(s.body))
	if err != nil {
		return 0, err
	}
	for k, v := range s.header {
		if k != "Host" {
			req.Header[k] = v
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// progress prints accepted/s every second on stderr until stopped.
func progress(w io.Writer, st *stats) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		prev := 0
		for {
			select {
			case <-done:
				return
			case <-t.C:
				acc, errs := st.snapshot()
				fmt.Fprintf(w, "  %3.0fs accepted=%d (+%d/s) errors=%d\n", time.Since(start).Seconds(), acc, acc-prev, errs)
				prev = acc
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
