package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/testrig"
)

// send does req and returns the status and Retry-After header.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func followOf(p *testrig.Peer, target string) []byte {
	b, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       p.NewID(), "type": "Follow", "actor": p.ActorIRI, "object": target,
	})
	return b
}

func withLimits(inbox float64, inboxBurst int, get float64, getBurst int) testrig.NodeOption {
	return func(c *config.Config) {
		c.Limits = config.Limits{InboxPerHost: inbox, InboxBurst: inboxBurst, GetPerIP: get, GetBurst: getBurst}
	}
}

func countStored(t *testing.T, n *testrig.Node) int {
	t.Helper()
	stored, _, err := n.DB.CountInbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// TestInboxRateLimit: a burst over limits.inbox_per_host gets 429 with
// Retry-After, and what was refused is not stored; once the bucket has
// refilled the host is served again.
func TestInboxRateLimit(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock, withLimits(1, 3, 0, 0))
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "flood")
	inbox := n.Actors.InboxURL("acoop")

	var accepted, limited int
	for i := 0; i < 8; i++ {
		status, retry := send(t, p.SignedRequest(inbox, followOf(p, n.ActorURL("acoop"))))
		switch status {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			limited++
			if s, err := strconv.Atoi(retry); err != nil || s < 1 {
				t.Errorf("429 with Retry-After %q, want whole seconds >= 1", retry)
			}
		default:
			t.Fatalf("POST %d: status %d", i, status)
		}
	}
	if accepted != 3 || limited != 5 {
		t.Errorf("accepted %d, limited %d; want the burst of 3 accepted and 5 refused", accepted, limited)
	}
	if got := countStored(t, n); got != accepted {
		t.Errorf("%d activities stored, want only the %d accepted", got, accepted)
	}
	clock.Advance(2 * time.Second)
	if status, _ := send(t, p.SignedRequest(inbox, followOf(p, n.ActorURL("acoop")))); status != http.StatusAccepted {
		t.Errorf("after the bucket refilled: %d", status)
	}
}

// TestInboxRateLimitPerHostAndPerIP: the host bucket is the keyId's host,
// so one flooding host does not starve another; the IP bucket catches one
// client cycling through hosts. The client IP comes from X-Forwarded-For
// only when the request comes from a trusted proxy.
func TestInboxRateLimitPerHostAndPerIP(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock, withLimits(1, 2, 0, 0), func(c *config.Config) {
		c.Server.TrustedProxies = []string{"127.0.0.1/32", "::1/128"}
	})
	n.CreateActor("acoop", actors.Profile{})
	a := testrig.NewPeer(t, clock, "a")
	b := testrig.NewPeer(t, clock, "b")
	inbox := n.Actors.InboxURL("acoop")
	post := func(p *testrig.Peer, ip string) int {
		r := p.SignedRequest(inbox, followOf(p, n.ActorURL("acoop")))
		r.Header.Set("X-Forwarded-For", ip)
		status, _ := send(t, r)
		return status
	}
	for i := 0; i < 2; i++ {
		if s := post(a, "203.0.113.1"); s != http.StatusAccepted {
			t.Fatalf("a %d: %d", i, s)
		}
	}
	if s := post(a, "203.0.113.9"); s != http.StatusTooManyRequests {
		t.Errorf("host a over its limit from a fresh IP: %d, want 429", s)
	}
	if s := post(b, "203.0.113.2"); s != http.StatusAccepted {
		t.Errorf("host b while a is limited: %d, want 202", s)
	}
	if s := post(b, "203.0.113.1"); s != http.StatusTooManyRequests {
		t.Errorf("host b from a's exhausted IP: %d, want 429", s)
	}
	if got := countStored(t, n); got != 3 {
		t.Errorf("%d stored, want 3", got)
	}
}

// TestForwardedForIgnoredWithoutTrustedProxy: a client cannot escape its
// IP bucket by making up X-Forwarded-For. Unsigned POSTs have no host, so
// only the IP bucket counts them; they would get 401 until it runs dry.
func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock, withLimits(1, 2, 0, 0))
	n.CreateActor("acoop", actors.Profile{})
	var statuses []int
	for i := 0; i < 4; i++ {
		r, _ := http.NewRequest(http.MethodPost, n.Actors.SharedInboxURL(), nil)
		r.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i+1))
		s, _ := send(t, r)
		statuses = append(statuses, s)
	}
	want := []int{401, 401, 429, 429}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("statuses = %v, want %v", statuses, want)
		}
	}
}

// TestGetRateLimit: the documents that cost a query share a per-IP
// bucket; over it they get 429 with Retry-After; /healthz is not limited.
func TestGetRateLimit(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock, withLimits(0, 0, 1, 4))
	n.CreateActor("acoop", actors.Profile{})
	get := func(url string) (int, string) {
		r, _ := http.NewRequest(http.MethodGet, url, nil)
		r.Header.Set("Accept", "application/activity+json")
		return send(t, r)
	}
	urls := []string{n.ActorURL("acoop"), n.URL + "/.well-known/webfinger?resource=acct:acoop@" + n.Actors.Host(), n.Actors.FollowersURL("acoop"), n.Actors.OutboxURL("acoop")}
	for _, u := range urls {
		if s, _ := get(u); s != http.StatusOK {
			t.Fatalf("GET %s: %d", u, s)
		}
	}
	for _, u := range urls {
		s, retry := get(u)
		if s != http.StatusTooManyRequests || retry == "" {
			t.Errorf("GET %s over the limit: %d, Retry-After %q", u, s, retry)
		}
	}
	if s, _ := get(n.URL + "/healthz"); s != http.StatusOK {
		t.Errorf("healthz: %d", s)
	}
	clock.Advance(time.Second)
	if s, _ := get(n.ActorURL("acoop")); s != http.StatusOK {
		t.Errorf("after a token came back: %d", s)
	}
}

// TestLimitZeroTurnsOff: with the rates at 0 nothing is ever refused 429.
func TestLimitZeroTurnsOff(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock, withLimits(0, 0, 0, 0))
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "busy")
	for i := 0; i < 60; i++ {
		if s, _ := send(t, p.SignedRequest(n.Actors.InboxURL("acoop"), followOf(p, n.ActorURL("acoop")))); s != http.StatusAccepted {
			t.Fatalf("POST %d: %d", i, s)
		}
		r, _ := http.NewRequest(http.MethodGet, n.ActorURL("acoop"), nil)
		if s, _ := send(t, r); s != http.StatusOK {
			t.Fatalf("GET %d: %d", i, s)
		}
	}
	if got := countStored(t, n); got != 60 {
		t.Errorf("%d stored, want 60", got)
	}
}
