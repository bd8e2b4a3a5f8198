package crashtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/testrig"
)

// TestHostileBodies posts signed activities built to hurt a parser: JSON
// nested thousands deep (within and beyond the decoder's limit), huge
// arrays and objects, deep chains of embedded activities. Each must be
// refused with a 4xx or stored and applied without harm: never a 5xx, and
// the node keeps serving and drains its inbox.
func TestHostileBodies(t *testing.T) {
	clock := testrig.NewClock()
	n := testrig.NewNode(t, clock)
	n.CreateActor("acoop", actors.Profile{})
	p := testrig.NewPeer(t, clock, "mallory")
	inbox := n.Actors.InboxURL("acoop")
	target := n.ActorURL("acoop")
	head := func(typ string) string {
		return `{"@context":"https://www.w3.org/ns/activitystreams","id":"` + p.NewID() + `","type":"` + typ + `","actor":"` + p.ActorIRI + `"`
	}
	nest := func(open, leaf, close string, depth int) string {
		return strings.Repeat(open, depth) + leaf + strings.Repeat(close, depth)
	}
	quoted := func(s string, count int) string {
		return strings.TrimSuffix(strings.Repeat(`"`+s+`",`, count), ",")
	}
	cases := []struct{ name, body string }{
		{"object nested 5000 deep", head("Create") + `,"object":` + nest(`{"a":`, `1`, `}`, 5000) + `}`},
		{"object nested 20000 deep (over the decoder limit)", head("Create") + `,"object":` + nest(`{"a":`, `1`, `}`, 20000) + `}`},
		{"arrays nested 9000 deep", head("Create") + `,"object":` + nest(`[`, `1`, `]`, 9000) + `}`},
		{"actor in arrays 9000 deep", `{"id":"` + p.NewID() + `","type":"Follow","object":"` + target + `","actor":` + nest(`[`, `"`+p.ActorIRI+`"`, `]`, 9000) + `}`},
		{"type in arrays 9000 deep", `{"id":"` + p.NewID() + `","actor":"` + p.ActorIRI + `","object":"` + target + `","type":` + nest(`[`, `"Follow"`, `]`, 9000) + `}`},
		{"embedded activities 3000 deep", head("Announce") + `,"object":` + nest(`{"type":"Announce","actor":"`+p.ActorIRI+`","object":`, `"`+target+`"`, `}`, 3000) + `}`},
		{"to with 100000 entries", head("Follow") + `,"object":"` + target + `","to":[` + quoted("x", 100000) + `]}`},
		{"type with 100000 entries", `{"id":"` + p.NewID() + `","actor":"` + p.ActorIRI + `","object":"` + target + `","type":[` + quoted("Follow", 100000) + `]}`},
		{"object array of 50000 objects", head("Create") + `,"object":[` + strings.TrimSuffix(strings.Repeat(`{"type":"Note"},`, 50000), ",") + `]}`},
		{"object with 50000 keys", head("Create") + `,"object":{` + func() string {
			var b strings.Builder
			for i := 0; i < 50000; i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":` + `1`)
			}
			return b.String()
		}() + `}}`},
		{"NUL and invalid UTF-8", head("Follow") + `,"object":"` + target + `","name":"a\u0000b` + "\xff\xfe" + `"}`},
		{"duplicate keys", head("Follow") + `,"object":"` + target + `","actor":"https://evil.example/users/x"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.body) > 1<<20 {
				t.Logf("body is %d bytes (over the 1 MiB limit)", len(c.body))
			}
			start := time.Now()
			status, answer := testrig.Do(t, p.SignedRequest(inbox, []byte(c.body)))
			t.Logf("%d bytes: %d in %v", len(c.body), status, time.Since(start).Round(time.Millisecond))
			if status >= 500 || (status >= 200 && status < 300 && status != http.StatusAccepted) {
				t.Errorf("status %d (%s), want 202 or a 4xx", status, strings.TrimSpace(answer))
			}
		})
	}
	ctx := context.Background()
	testrig.Eventually(t, 30*time.Second, "inbox drained", func() bool {
		stored, processed, err := n.DB.CountInbox(ctx)
		return err == nil && stored == processed
	})
	stored, _, _ := n.DB.CountInbox(ctx)
	t.Logf("%d of %d hostile bodies were stored (and applied harmlessly)", stored, len(cases))
	req, _ := http.NewRequest(http.MethodGet, n.URL+"/healthz", nil)
	if status, _ := testrig.Do(t, req); status != http.StatusOK {
		t.Errorf("healthz after the hostile bodies: %d", status)
	}
	// A normal follow still works.
	f, _ := json.Marshal(map[string]any{"id": p.NewID(), "type": "Follow", "actor": p.ActorIRI, "object": target})
	if status, _ := testrig.Do(t, p.SignedRequest(inbox, f)); status != http.StatusAccepted {
		t.Errorf("ordinary follow afterwards: %d", status)
	}
}

// hostilePeer is a fediverse server whose actor's name, summary and
// username carry script and event-handler HTML.
type hostilePeer struct {
	srv   *httptest.Server
	key   *rsa.PrivateKey
	actor string
}

func newHostilePeer(t *testing.T) *hostilePeer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	h := &hostilePeer{key: key}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/users/x":
			pemKey, _ := federation.EncodePublicKeyPEM(&key.PublicKey)
			w.Header().Set("Content-Type", federation.ContentTypeActivity)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"@context": []any{federation.ActivityStreamsContext, federation.SecurityContext},
				"id":       h.actor, "type": "Person", "inbox": h.actor + "/inbox",
				"preferredUsername": `x<img src=x onerror=alert(3)>`,
				"name":              `<script>alert(1)</script>Evil`,
				"summary":           `<p onmouseover="alert(2)">hi<img src=x onerror=alert(2)></p><script>alert(2)</script>`,
				"publicKey":         map[string]any{"id": h.actor + "#main-key", "owner": h.actor, "publicKeyPem": pemKey},
			})
		case r.Method == http.MethodPost:
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(h.srv.Close)
	h.actor = h.srv.URL + "/users/x"
	return h
}

func (h *hostilePeer) post(t *testing.T, inbox string, activity map[string]any) int {
	t.Helper()
	body, _ := json.Marshal(activity)
	req, _ := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(body))
	req.Header.Set("Content-Type", federation.ContentTypeActivity)
	if err := (federation.Signer{KeyID: h.actor + "#main-key", Key: h.key}).SignRequest(req, body, time.Now()); err != nil {
		t.Fatal(err)
	}
	status, _ := testrig.Do(t, req)
	return status
}

// TestRemoteHTMLNeverRendered: a remote actor whose name, username and
// summary carry <script> and on*= handlers follows a local co-op; no page
// the node serves contains them. Today pages show local content only
// (follower counts, not followers), so this guards the rule for when
// pages start to show remote names: they must go through
// node.SanitizeHTML (or html/template escaping for plain text).
func TestRemoteHTMLNeverRendered(t *testing.T) {
	n := testrig.NewNode(t, nil)
	n.CreateActor("acoop", actors.Profile{Name: "A Co-op"})
	h := newHostilePeer(t)
	status := h.post(t, n.Actors.InboxURL("acoop"), map[string]any{"id": h.actor + "/follows/1", "type": "Follow", "actor": h.actor, "object": n.ActorURL("acoop")})
	if status != http.StatusAccepted {
		t.Fatalf("follow: %d", status)
	}
	testrig.Eventually(t, 10*time.Second, "follower stored", func() bool {
		c, _ := n.DB.CountFollows(context.Background(), n.Actor("acoop").ID, "in", "")
		return c == 1
	})
	for _, u := range []string{n.URL + "/", n.ActorURL("acoop"), n.Actors.FollowersURL("acoop"), n.Actors.FollowersURL("acoop") + "?page=1"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		status, page := testrig.Do(t, req)
		if status != http.StatusOK {
			t.Errorf("GET %s: %d", u, status)
			continue
		}
		low := strings.ToLower(page)
		for _, bad := range []string{"<script>alert", "onerror=", "onmouseover="} {
			if strings.Contains(low, bad) {
				t.Errorf("GET %s renders %q from a remote actor", u, bad)
			}
		}
	}
	// The sanitiser pages must use for remote HTML removes all of it.
	clean := string(node.SanitizeHTML(`<p onmouseover="alert(2)">hi<img src=x onerror=alert(2)></p><script>alert(2)</script>`))
	for _, bad := range []string{"<script", "onerror", "onmouseover"} {
		if strings.Contains(clean, bad) {
			t.Errorf("SanitizeHTML left %q in %q", bad, clean)
		}
	}
}
