package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/federation"
)

// fakeActor is one remote actor the load command plays. Key material is
// shared with other actors of the pool (generating 10,000 RSA-2048 keys
// would take minutes), but every actor has its own keyId and publishes
// its key in its own document, so the node fetches and caches one key per
// actor exactly as it would for real peers.
type fakeActor struct {
	host     *fakeHost
	Username string
	IRI      string
	KeyID    string
	Inbox    string
	Key      *rsa.PrivateKey
	doc      []byte
	accepted atomic.Bool // an Accept of its Follow arrived
}

// signer is the actor's request signer (one per request: not goroutine-safe
// inside httpsig, but a Signer value is cheap).
func (a *fakeActor) signer() federation.Signer {
	return federation.Signer{KeyID: a.KeyID, Key: a.Key}
}

// fakeHost is one loopback listener standing for one remote server, with a
// shared inbox and some actors.
type fakeHost struct {
	net    *fakeNet
	URL    string // http://127.0.0.1:PORT
	Shared string
	actors map[string]*fakeActor
	srv    *http.Server
	// gotBroadcast is set when the awaited broadcast reached this host.
	gotBroadcast atomic.Bool
}

// fakeNet is every fake host of a run, with the counters the modes read.
type fakeNet struct {
	hosts  []*fakeHost
	actors []*fakeActor

	posts    atomic.Int64 // POSTs received, any type
	accepts  atomic.Int64 // Accepts of our Follows (first per actor)
	badSigs  atomic.Int64 // broadcasts whose signature did not verify
	verifier *federation.Verifier

	// broadcast, when set, is the activity type and actor whose arrival
	// at each host the fanout mode waits for.
	mu             sync.Mutex
	broadcastType  string
	broadcastActor string
	hostsReached   atomic.Int64
	firstAt        atomic.Int64 // unix nanos of the first broadcast POST
	lastAt         atomic.Int64 // unix nanos of the last first-per-host POST
	reached        chan struct{}
	reachedOnce    sync.Once
	wantHosts      int64
}

// newFakeNet starts hosts listeners on 127.0.0.1 with actorsTotal actors
// spread evenly over them, using a pool of nkeys RSA-2048 keys.
func newFakeNet(ctx context.Context, hosts, actorsTotal, nkeys int, prefix string) (*fakeNet, error) {
	if hosts < 1 || actorsTotal < hosts {
		return nil, fmt.Errorf("need at least one actor per host (hosts=%d actors=%d)", hosts, actorsTotal)
	}
	keys, err := genKeys(nkeys)
	if err != nil {
		return nil, err
	}
	n := &fakeNet{reached: make(chan struct{})}
	for h := 0; h < hosts; h++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			n.close()
			return nil, fmt.Errorf("listen (raise ulimit -n for many hosts): %w", err)
		}
		fh := &fakeHost{net: n, URL: "http://" + l.Addr().String(), actors: map[string]*fakeActor{}}
		fh.Shared = fh.URL + "/inbox"
		fh.srv = &http.Server{Handler: http.HandlerFunc(fh.serve), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
		n.hosts = append(n.hosts, fh)
		go func() { _ = fh.srv.Serve(l) }()
	}
	for i := 0; i < actorsTotal; i++ {
		fh := n.hosts[i%hosts]
		name := fmt.Sprintf("%s%d", prefix, i)
		a := &fakeActor{host: fh, Username: name, IRI: fh.URL + "/users/" + name, Key: keys[i%len(keys)]}
		a.KeyID = a.IRI + "#main-key"
		a.Inbox = a.IRI + "/inbox"
		pemKey, err := federation.EncodePublicKeyPEM(&a.Key.PublicKey)
		if err != nil {
			n.close()
			return nil, err
		}
		a.doc, _ = json.Marshal(map[string]any{
			"@context":          []any{federation.ActivityStreamsContext, federation.SecurityContext, map[string]any{"coop": federation.Namespace}},
			"id":                a.IRI,
			"type":              "Organization",
			"preferredUsername": name,
			"name":              "Load co-op " + name,
			"inbox":             a.Inbox,
			"outbox":            a.IRI + "/outbox",
			"followers":         a.IRI + "/followers",
			"endpoints":         map[string]any{"sharedInbox": fh.Shared},
			"publicKey":         map[string]any{"id": a.KeyID, "owner": a.IRI, "publicKeyPem": pemKey},
		})
		fh.actors[name] = a
		n.actors = append(n.actors, a)
	}
	return n, nil
}

// genKeys makes n RSA-2048 keys on all cores.
func genKeys(n int) ([]*rsa.PrivateKey, error) {
	keys := make([]*rsa.PrivateKey, max(n, 1))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() { keys[i], errs[i] = rsa.GenerateKey(rand.Reader, 2048) })
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}

func (n *fakeNet) close() {
	for _, h := range n.hosts {
		_ = h.srv.Close()
	}
}

// expectBroadcast arms the per-host arrival tracking for one activity type
// sent by actor: reachedAll is closed once every host got it.
func (n *fakeNet) expectBroadcast(typ, actor string) {
	n.mu.Lock()
	n.broadcastType, n.broadcastActor = typ, actor
	n.wantHosts = int64(len(n.hosts))
	n.mu.Unlock()
}

func (n *fakeNet) reachedAll() <-chan struct{} { return n.reached }

// serve answers the node: actor documents for key fetches, WebFinger, and
// inbox POSTs, which are counted (and for the awaited broadcast, their
// signature optionally verified).
func (h *fakeHost) serve(w http.ResponseWriter, r *http.Request) {
	n := h.net
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/users/"):
		a := h.actors[strings.TrimPrefix(r.URL.Path, "/users/")]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", federation.ContentTypeActivity)
		_, _ = w.Write(a.doc)
	case r.Method == http.MethodPost && (r.URL.Path == "/inbox" || strings.HasPrefix(r.URL.Path, "/users/")):
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		n.posts.Add(1)
		var env struct {
			Type   string          `json:"type"`
			Actor  string          `json:"actor"`
			Object json.RawMessage `json:"object"`
		}
		_ = json.Unmarshal(body, &env)
		switch {
		case env.Type == "Accept" && r.URL.Path != "/inbox":
			name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/users/"), "/inbox")
			if a := h.actors[name]; a != nil && !a.accepted.Swap(true) {
				n.accepts.Add(1)
			}
		default:
			n.mu.Lock()
			want := n.broadcastType != "" && env.Type == n.broadcastType && env.Actor == n.broadcastActor
			n.mu.Unlock()
			if !want {
				break
			}
			if n.verifier != nil {
				if _, err := n.verifier.Verify(r.Context(), r, body); err != nil {
					n.badSigs.Add(1)
					http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
					return
				}
			}
			now := time.Now().UnixNano()
			n.firstAt.CompareAndSwap(0, now)
			if !h.gotBroadcast.Swap(true) {
				n.lastAt.Store(now)
				if n.hostsReached.Add(1) == n.wantHosts {
					n.reachedOnce.Do(func() { close(n.reached) })
				}
			}
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// nodeKeys resolves the node's keys by a plain GET of its (public) actor
// documents, cached: what a minimal receiving server does.
type nodeKeys struct {
	client *http.Client
	mu     sync.Mutex
	cache  map[string]*federation.PublicKey
}

// ResolveKey implements federation.KeyResolver.
func (k *nodeKeys) ResolveKey(ctx context.Context, keyID string, refresh bool) (*federation.PublicKey, error) {
	k.mu.Lock()
	if pk, ok := k.cache[keyID]; ok && !refresh {
		k.mu.Unlock()
		return pk, nil
	}
	k.mu.Unlock()
	doc, _, _ := strings.Cut(keyID, "#")
	body, err := getJSON(ctx, k.client, doc)
	if err != nil {
		return nil, err
	}
	var m struct {
		ID        string `json:"id"`
		PublicKey struct {
			ID           string `json:"id"`
			Owner        string `json:"owner"`
			PublicKeyPem string `json:"publicKeyPem"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if m.PublicKey.ID != keyID {
		return nil, fmt.Errorf("key %s not in %s", keyID, doc)
	}
	pub, err := federation.ParsePublicKeyPEM(m.PublicKey.PublicKeyPem)
	if err != nil {
		return nil, err
	}
	pk := &federation.PublicKey{ID: keyID, Owner: m.PublicKey.Owner, Key: pub}
	k.mu.Lock()
	k.cache[keyID] = pk
	k.mu.Unlock()
	return pk, nil
}

// getJSON GETs an ActivityStreams or JRD document.
func getJSON(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", federation.ContentTypeActivity+", application/jrd+json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}

// resolveActor returns the id of the local actor username on the node at
// target, by WebFinger (as a peer would).
func resolveActor(ctx context.Context, c *http.Client, target, username string) (string, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(target, "http://"), "https://")
	host, _, _ = strings.Cut(host, "/")
	body, err := getJSON(ctx, c, strings.TrimSuffix(target, "/")+"/.well-known/webfinger?resource=acct:"+username+"@"+host)
	if err != nil {
		return "", fmt.Errorf("webfinger %s: %w", username, err)
	}
	var jrd struct {
		Links []struct {
			Rel  string `json:"rel"`
			Type string `json:"type"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := json.Unmarshal(body, &jrd); err != nil {
		return "", fmt.Errorf("webfinger %s: %w", username, err)
	}
	for _, l := range jrd.Links {
		if l.Rel == "self" && federation.IsActivityJSON(l.Type) {
			return l.Href, nil
		}
	}
	return "", fmt.Errorf("webfinger %s: no self link", username)
}
