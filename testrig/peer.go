package testrig

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/google/uuid"
)

// Peer is a "Mastodon-like" fediverse server with one Person actor. It
// speaks plain ActivityPub (no coopnet vocabulary), verifies the
// signature of everything delivered to it, and records it. Like
// GoToSocial, it can refuse unsigned GETs of its actor.
type Peer struct {
	URL      string
	Username string
	ActorIRI string
	KeyID    string
	Inbox    string
	Shared   string
	Key      *rsa.PrivateKey
	Server   *httptest.Server
	Clock    *Clock
	// RequireSignedGET makes the actor document answer 401 to unsigned
	// GETs, as GoToSocial and secure-mode Mastodon do.
	RequireSignedGET atomic.Bool
	// Status, when set, is the status the inbox answers (after recording);
	// 0 means 202.
	Status atomic.Int32
	// Hang, when set, makes the inbox hold every POST without answering
	// until the sender gives up or the test ends: a peer that hangs.
	Hang atomic.Bool

	t        testing.TB
	verifier *federation.Verifier
	mu       sync.Mutex
	received []Received
	gets     []string
	extra    map[string][]byte
	closed   chan struct{}
}

// Received is one delivery the peer accepted.
type Received struct {
	Path     string
	Header   http.Header
	Body     []byte
	Activity map[string]any
	Signer   string // the key owner whose signature verified
}

// NewPeer starts a peer with actor username.
func NewPeer(t testing.TB, clock *Clock, username string) *Peer {
	t.Helper()
	if clock == nil {
		clock = NewClock()
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{Username: username, Key: key, Clock: clock, t: t, extra: map[string][]byte{}, closed: make(chan struct{})}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		close(p.closed)
		p.Server.Close()
	})
	p.URL = p.Server.URL
	p.ActorIRI = p.URL + "/users/" + username
	p.KeyID = p.ActorIRI + "#main-key"
	p.Inbox = p.ActorIRI + "/inbox"
	p.Shared = p.URL + "/inbox"
	p.verifier = &federation.Verifier{Keys: keyFetcher{}, Now: clock.Now}
	return p
}

// Host is host:port of the peer.
func (p *Peer) Host() string { return strings.TrimPrefix(p.URL, "http://") }

// Handle is @user@host of the peer's actor.
func (p *Peer) Handle() string { return "@" + p.Username + "@" + p.Host() }

// ActorDoc is the peer's actor document, Mastodon-shaped.
func (p *Peer) ActorDoc() map[string]any {
	pemKey, _ := federation.EncodePublicKeyPEM(&p.Key.PublicKey)
	return map[string]any{
		"@context":          []any{federation.ActivityStreamsContext, federation.SecurityContext, map[string]any{"toot": "http://joinmastodon.org/ns#"}},
		"id":                p.ActorIRI,
		"type":              "Person",
		"preferredUsername": p.Username,
		"name":              "Peer " + p.Username,
		"summary":           "<p>a plain fediverse account</p>",
		"inbox":             p.Inbox,
		"outbox":            p.ActorIRI + "/outbox",
		"followers":         p.ActorIRI + "/followers",
		"following":         p.ActorIRI + "/following",
		"endpoints":         map[string]any{"sharedInbox": p.Shared},
		"publicKey":         map[string]any{"id": p.KeyID, "owner": p.ActorIRI, "publicKeyPem": pemKey},
	}
}

// Serve makes the peer answer GET path with doc (an object it published).
func (p *Peer) Serve(path string, doc any) {
	b, _ := json.Marshal(doc)
	p.mu.Lock()
	p.extra[path] = b
	p.mu.Unlock()
}

func (p *Peer) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/.well-known/webfinger":
		if r.URL.Query().Get("resource") != "acct:"+p.Username+"@"+p.Host() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jrd+json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"subject": "acct:" + p.Username + "@" + p.Host(),
			"links":   []any{map[string]any{"rel": "self", "type": federation.ContentTypeActivity, "href": p.ActorIRI}},
		})
	case r.Method == http.MethodGet && r.URL.Path == "/users/"+p.Username:
		p.mu.Lock()
		p.gets = append(p.gets, r.Header.Get("Signature"))
		p.mu.Unlock()
		if p.RequireSignedGET.Load() {
			if _, err := p.verifier.Verify(r.Context(), r, nil); err != nil {
				http.Error(w, "signature required", http.StatusUnauthorized)
				return
			}
		}
		w.Header().Set("Content-Type", federation.ContentTypeActivity)
		_ = json.NewEncoder(w).Encode(p.ActorDoc())
	case r.Method == http.MethodPost && (r.URL.Path == "/inbox" || r.URL.Path == "/users/"+p.Username+"/inbox"):
		if p.Hang.Load() {
			select {
			case <-r.Context().Done():
			case <-p.closed:
			}
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		key, err := p.verifier.Verify(r.Context(), r, body)
		if err != nil {
			p.t.Logf("peer %s: refused delivery: %v", p.Username, err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if actor, _ := m["actor"].(string); actor != key.Owner {
			http.Error(w, "signer is not the actor", http.StatusUnauthorized)
			return
		}
		if st := p.Status.Load(); st != 0 {
			http.Error(w, "status", int(st))
			return
		}
		p.mu.Lock()
		p.received = append(p.received, Received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Activity: m, Signer: key.Owner})
		p.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		p.mu.Lock()
		b, ok := p.extra[r.URL.Path]
		p.mu.Unlock()
		if ok && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", federation.ContentTypeActivity)
			_, _ = w.Write(b)
			return
		}
		http.NotFound(w, r)
	}
}

// Received returns what the peer accepted so far, of type typ ("" for all).
func (p *Peer) Received(typ string) []Received {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Received
	for _, r := range p.received {
		if t, _ := r.Activity["type"].(string); typ == "" || t == typ {
			out = append(out, r)
		}
	}
	return out
}

// ActorGETSignatures returns the Signature headers of GETs of its actor.
func (p *Peer) ActorGETSignatures() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.gets...)
}

// WaitFor waits until the peer has received n activities of type typ and
// returns them.
func (p *Peer) WaitFor(typ string, n int, timeout time.Duration) []Received {
	p.t.Helper()
	Eventually(p.t, timeout, fmt.Sprintf("peer %s to receive %d %s", p.Username, n, typ), func() bool { return len(p.Received(typ)) >= n })
	return p.Received(typ)
}

// NewID returns a fresh activity id on the peer's origin.
func (p *Peer) NewID() string { return p.ActorIRI + "/activities/" + uuid.NewString() }

// Signer is the peer's request signer.
func (p *Peer) Signer() federation.Signer { return federation.Signer{KeyID: p.KeyID, Key: p.Key} }

// SignedRequest builds a POST of body to url, signed now by the peer, for
// tests that tamper with it before sending.
func (p *Peer) SignedRequest(url string, body []byte) *http.Request {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", federation.ContentTypeActivity)
	if err := p.Signer().SignRequest(req, body, p.Clock.Now()); err != nil {
		p.t.Fatal(err)
	}
	return req
}

// Post signs and sends an activity to inbox and returns the status and
// the answer's body.
func (p *Peer) Post(inbox string, activity any) (int, string) {
	p.t.Helper()
	body, err := json.Marshal(activity)
	if err != nil {
		p.t.Fatal(err)
	}
	return Do(p.t, p.SignedRequest(inbox, body))
}

// Do sends a request with a bounded timeout and returns status and body.
func Do(t testing.TB, req *http.Request) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// keyFetcher resolves keys by plain GET of the key's document, the way a
// minimal independent server would.
type keyFetcher struct{}

func (keyFetcher) ResolveKey(ctx context.Context, keyID string, _ bool) (*federation.PublicKey, error) {
	doc, _, _ := strings.Cut(keyID, "#")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", federation.ContentTypeActivity)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m struct {
		ID        string `json:"id"`
		PublicKey struct {
			ID           string `json:"id"`
			Owner        string `json:"owner"`
			PublicKeyPem string `json:"publicKeyPem"`
		} `json:"publicKey"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, err
	}
	if m.PublicKey.ID != keyID || m.PublicKey.Owner != m.ID {
		return nil, fmt.Errorf("key %s not found in %s", keyID, doc)
	}
	k, err := federation.ParsePublicKeyPEM(m.PublicKey.PublicKeyPem)
	if err != nil {
		return nil, err
	}
	return &federation.PublicKey{ID: keyID, Owner: m.ID, Key: k}, nil
}
