package inbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/testrig"
)

// benchRequest is one activity signed ahead of the timed loop.
type benchRequest struct {
	body   []byte
	header http.Header
}

// presignNotes signs n Create{Note} replies from p to local, on all cores.
// Signing (RSA-2048, ~1 ms) is the sender's cost, not the node's, so it
// stays outside the timer.
func presignNotes(b *testing.B, p *testrig.Peer, inboxURL, local string, n int) []benchRequest {
	b.Helper()
	out := make([]benchRequest, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				id := p.NewID()
				body, _ := json.Marshal(map[string]any{
					"@context": "https://www.w3.org/ns/activitystreams",
					"id":       id,
					"type":     "Create",
					"actor":    p.ActorIRI,
					"to":       []string{local},
					"object": map[string]any{
						"id": id + "/note", "type": "Note", "attributedTo": p.ActorIRI, "inReplyTo": local,
						"to": []string{local}, "content": "<p>Is lot 2 open to co-ops outside Ontario?</p>",
						"tag": []any{map[string]any{"type": "Mention", "href": local}},
					},
				})
				req, err := http.NewRequest(http.MethodPost, inboxURL, bytes.NewReader(body))
				if err != nil {
					failed.Store(true)
					return
				}
				req.Header.Set("Content-Type", federation.ContentTypeActivity)
				if err := p.Signer().SignRequest(req, body, p.Clock.Now()); err != nil {
					failed.Store(true)
					return
				}
				req.Header.Del("Host")
				out[i] = benchRequest{body: body, header: req.Header}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		b.Fatal("presign failed")
	}
	return out
}

// BenchmarkInboxAccept is the shared inbox end to end: the node's HTTP
// handler (router, body limit, signature verification with a cached key,
// parsing, origin checks, go-fed classification) and the durable store
// (SQLite, synchronous=FULL, group commit), called from many goroutines
// at once as a busy node sees it. The node's inbox worker runs beside it.
// ns/op is wall time per accepted activity, so 1e9/ns_op is accepted/s.
func BenchmarkInboxAccept(b *testing.B) {
	clock := testrig.NewClock()
	// Rate limits off, as for any throughput measurement.
	n := testrig.NewNode(b, clock, func(c *config.Config) { c.Limits.InboxPerHost = 0 })
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(b, clock, "alice")
	local := n.ActorURL("acoop")
	inboxURL := n.URL + "/inbox"
	h := n.Handler()
	serve := func(r benchRequest) int {
		req := httptest.NewRequest(http.MethodPost, "/inbox", bytes.NewReader(r.body))
		req.Host = n.Host()
		for k, v := range r.header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	// The first activity makes the node fetch and cache the peer's key.
	if code := serve(presignNotes(b, p, inboxURL, local, 1)[0]); code != http.StatusAccepted {
		b.Fatalf("warm-up: status %d", code)
	}
	reqs := presignNotes(b, p, inboxURL, local, b.N)
	var next atomic.Int64
	b.SetParallelism(32) // 32 × GOMAXPROCS requests in flight
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code := serve(reqs[next.Add(1)-1]); code != http.StatusAccepted {
				b.Errorf("status %d", code)
				return
			}
		}
	})
}
