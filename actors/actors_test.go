package actors_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// service returns an actors.Service for a node at base, on a fresh
// database, whose client may reach loopback peers over http.
func service(t *testing.T, base string) *actors.Service {
	t.Helper()
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "coopnet.db"))
	if err != nil {
		t.Fatal(err)
	}
	client := federation.NewClient(federation.ClientConfig{AllowPrivate: true, AllowInsecureHTTP: true, Timeout: 5 * time.Second})
	t.Cleanup(func() {
		client.CloseIdleConnections()
		db.Close()
	})
	return actors.NewService(db, base, client, func() time.Time { return t0 }, nil)
}

func TestValidUsername(t *testing.T) {
	for _, u := range []string{"a", "democoop", "bar-coop", "bar_coop", "0coop", strings.Repeat("a", 30)} {
		if err := actors.ValidUsername(u); err != nil {
			t.Errorf("%q refused: %v", u, err)
		}
	}
	for _, u := range []string{"", "Bar", "bar coop", "-bar", "_instance", "bar.coop", "bär", strings.Repeat("a", 31), "a/b", "a@b"} {
		err := actors.ValidUsername(u)
		var te *tender.Error
		if !errors.As(err, &te) || te.Field != "username" {
			t.Errorf("%q: %v, want an error on the username field", u, err)
		}
	}
}

func TestURLs(t *testing.T) {
	s := service(t, "https://coop.example:8443/")
	if got := s.ActorURL("a"); got != "https://coop.example:8443/users/a" {
		t.Errorf("ActorURL = %q", got)
	}
	if got := s.Handle("a"); got != "a@coop.example:8443" {
		t.Errorf("Handle = %q", got)
	}
	if got := s.KeyID("a"); got != "https://coop.example:8443/users/a#main-key" {
		t.Errorf("KeyID = %q", got)
	}
	if got := s.ActorURL(actors.InstanceUsername); got != "https://coop.example:8443/actor" {
		t.Errorf("instance ActorURL = %q", got)
	}
	for iri, want := range map[string]string{
		"https://coop.example:8443/users/a":        "a",
		"https://coop.example:8443/actor":          actors.InstanceUsername,
		"https://coop.example:8443/users/a/outbox": "",
		"https://coop.example:8443/users/a#main":   "",
		"https://coop.example:8443/users/":         "",
		"https://coop.example/users/a":             "",
		"http://coop.example:8443/users/a":         "",
	} {
		if got := s.UsernameFromURL(iri); got != want {
			t.Errorf("UsernameFromURL(%q) = %q, want %q", iri, got, want)
		}
	}
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	s := service(t, "https://coop.example")
	a, err := s.Create(ctx, "democoop", actors.Profile{Regions: []string{"Ontario"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "democoop" || !a.Published.Equal(t0) {
		t.Errorf("actor %+v: want the name to default to the username", a)
	}
	// The published key is SPKI ("BEGIN PUBLIC KEY"), RSA-2048, and the
	// pair to the stored private key, which the signer uses.
	block, _ := pem.Decode([]byte(a.PublicKeyPEM))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("public key PEM %.40q", a.PublicKeyPEM)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok || rsaPub.N.BitLen() != 2048 {
		t.Fatalf("public key %T of %d bits, want RSA-2048", pub, rsaPub.N.BitLen())
	}
	signer, err := s.Signer(a)
	if err != nil {
		t.Fatal(err)
	}
	if !signer.Key.PublicKey.Equal(rsaPub) || signer.KeyID != "https://coop.example/users/democoop#main-key" {
		t.Errorf("signer %s does not hold the published key", signer.KeyID)
	}

	// The key is kept: loading the actor again gives the same one.
	again, err := s.Get(ctx, "democoop")
	if err != nil || again.PublicKeyPEM != a.PublicKeyPEM || again.PrivateKeyPEM != a.PrivateKeyPEM {
		t.Errorf("stored actor differs: %v", err)
	}
	if _, err := s.Create(ctx, "democoop", actors.Profile{}); tender.ErrorCode(err) != tender.EConflict {
		t.Errorf("duplicate: %v, want conflict", err)
	}
	if _, err := s.Get(ctx, "nobody"); tender.ErrorCode(err) != tender.ENotFound {
		t.Errorf("unknown: %v, want not found", err)
	}
}

func TestCreateInvalid(t *testing.T) {
	s := service(t, "https://coop.example")
	tests := []struct {
		username string
		p        actors.Profile
		field    string
	}{
		{"Bad User", actors.Profile{}, "username"},
		{"ok", actors.Profile{Name: strings.Repeat("n", 101)}, "name"},
		{"ok", actors.Profile{Summary: strings.Repeat("s", 5001)}, "summary"},
		{"ok", actors.Profile{Regions: []string{" "}}, "region"},
		{"ok", actors.Profile{Categories: make([]string, 51)}, "category"},
		{"ok", actors.Profile{Languages: []string{strings.Repeat("l", 101)}}, "language"},
		{"ok", actors.Profile{Icon: "javascript:alert(1)"}, "icon"},
		{"ok", actors.Profile{Icon: "/logo.png"}, "icon"},
	}
	for _, tt := range tests {
		_, err := s.Create(context.Background(), tt.username, tt.p)
		var te *tender.Error
		if !errors.As(err, &te) || te.Field != tt.field {
			t.Errorf("%s %+v: %v, want an error on %s", tt.username, tt.p, err, tt.field)
		}
	}
	if list, _ := s.DB.LocalActors(context.Background()); len(list) != 0 {
		t.Errorf("invalid actors were stored: %d", len(list))
	}
}

func TestDeletedIsGone(t *testing.T) {
	ctx := context.Background()
	s := service(t, "https://coop.example")
	a, err := s.Create(ctx, "gone", actors.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB.DeleteLocalActor(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "gone")
	if tender.ErrorCode(err) != tender.EGone || got == nil {
		t.Fatalf("Get deleted = %v, %v; want the actor and EGone", got, err)
	}
	tomb := s.TombstoneDoc(got)
	if tomb.Type != "Tombstone" || tomb.ID != "https://coop.example/users/gone" || tomb.FormerType != "Organization" {
		t.Errorf("tombstone %+v", tomb)
	}
}

func TestInstance(t *testing.T) {
	ctx := context.Background()
	s := service(t, "https://coop.example")
	a, err := s.Instance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Instance(ctx)
	if err != nil || a.ID != b.ID || a.PublicKeyPEM != b.PublicKeyPEM {
		t.Errorf("second Instance() made another actor: %v", err)
	}
	d := s.Document(a)
	if d.Type != "Application" || d.PreferredUsername != "coop.example" || d.ID != "https://coop.example/actor" || d.Discoverable {
		t.Errorf("instance document %+v", d)
	}
	if jrd := s.WebFinger(a); jrd.Subject != "acct:coop.example@coop.example" {
		t.Errorf("instance subject %q", jrd.Subject)
	}
	if list, _ := s.DB.LocalActors(ctx); len(list) != 0 {
		t.Errorf("the instance actor is listed as a co-op")
	}
}

func TestTextToHTML(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "",
		"  \n ":                             "",
		"plain":                             "<p>plain</p>",
		"a & b":                             "<p>a &amp; b</p>",
		"<script>alert(1)</script>":         "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
		"one\ntwo":                          "<p>one<br>two</p>",
		"para one\n\npara two\r\n\r\nthree": "<p>para one</p><p>para two</p><p>three</p>",
		`"quoted" 'single'`:                 "<p>&#34;quoted&#34; &#39;single&#39;</p>",
	} {
		if got := actors.TextToHTML(in); got != want {
			t.Errorf("TextToHTML(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDocumentEscapesProfileFields: the Mastodon profile fields carry HTML,
// so text typed by staff must arrive escaped there too.
func TestDocumentEscapesProfileFields(t *testing.T) {
	s := service(t, "https://coop.example")
	a, err := s.Create(context.Background(), "x", actors.Profile{Regions: []string{"<b>North</b>", "South & East"}})
	if err != nil {
		t.Fatal(err)
	}
	d := s.Document(a)
	if len(d.Attachment) != 1 || d.Attachment[0].Value != "&lt;b&gt;North&lt;/b&gt;, South &amp; East" {
		t.Errorf("attachment %+v", d.Attachment)
	}
	if d.Regions[0] != "<b>North</b>" {
		t.Errorf("regions are data, not HTML: %q", d.Regions[0])
	}
}

func TestParseActorFixtures(t *testing.T) {
	for _, f := range []struct {
		file, iri, keyID string
		shared           bool
	}{
		{"gotosocial/actor-alice.json", "http://gts1.test/users/alice", "http://gts1.test/users/alice/main-key", false},
		{"fedify/actor-dave.json", "http://peer.test/users/dave", "http://peer.test/users/dave#main-key", true},
	} {
		body, err := os.ReadFile(filepath.Join("..", "federation", "testdata", "fixtures", f.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := actors.ParseActor(f.iri, body)
		if err != nil {
			t.Fatalf("%s: %v", f.file, err)
		}
		if r.KeyID != f.keyID || !strings.Contains(r.PublicKeyPEM, "PUBLIC KEY") {
			t.Errorf("%s: key %q", f.file, r.KeyID)
		}
		if r.Username == "" || r.Inbox == "" || (r.SharedInbox != "") != f.shared || r.Coopnet {
			t.Errorf("%s: username %q, inbox %q, shared inbox %q, coopnet %v", f.file, r.Username, r.Inbox, r.SharedInbox, r.Coopnet)
		}
		// Fetched from another URL than its id, the document is refused.
		if _, err := actors.ParseActor(f.iri+"x", body); tender.ErrorCode(err) != tender.EInvalid {
			t.Errorf("%s under another URL: %v", f.file, err)
		}
	}
}

func TestParseActorRules(t *testing.T) {
	const iri = "https://r.example/users/bob"
	doc := func(mod func(m map[string]any)) []byte {
		m := map[string]any{
			"@context": []any{"https://www.w3.org/ns/activitystreams", map[string]any{"coop": "https://w3id.org/coopnet/ns#"}},
			"id":       iri, "type": "Person", "preferredUsername": "bob",
			"inbox":     iri + "/inbox",
			"endpoints": map[string]any{"sharedInbox": "https://r.example/inbox"},
			"publicKey": map[string]any{"id": iri + "#main-key", "owner": iri, "publicKeyPem": "-----BEGIN PUBLIC KEY-----"},
		}
		if mod != nil {
			mod(m)
		}
		b, _ := json.Marshal(m)
		return b
	}
	r, err := actors.ParseActor(iri, doc(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Coopnet || r.Handle() != "bob@r.example" || r.DeliveryInbox() != "https://r.example/inbox" || r.KeyID != iri+"#main-key" {
		t.Errorf("parsed %+v", r)
	}
	bad := map[string]func(m map[string]any){
		"not an actor":     func(m map[string]any) { m["type"] = "Note" },
		"no id":            func(m map[string]any) { delete(m, "id") },
		"no inbox":         func(m map[string]any) { delete(m, "inbox") },
		"inbox elsewhere":  func(m map[string]any) { m["inbox"] = "https://evil.example/inbox" },
		"type as a number": func(m map[string]any) { m["type"] = 7 },
	}
	for name, mod := range bad {
		if _, err := actors.ParseActor(iri, doc(mod)); tender.ErrorCode(err) != tender.EInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := actors.ParseActor(iri, []byte("{")); tender.ErrorCode(err) != tender.EInvalid {
		t.Errorf("malformed JSON: %v", err)
	}
	// Parts on another host are dropped rather than trusted.
	r, err = actors.ParseActor(iri, doc(func(m map[string]any) {
		m["endpoints"] = map[string]any{"sharedInbox": "https://evil.example/inbox"}
		m["publicKey"] = map[string]any{"id": "https://evil.example/k", "owner": iri, "publicKeyPem": "x"}
	}))
	if err != nil || r.SharedInbox != "" || r.KeyID != "" {
		t.Errorf("foreign shared inbox or key kept: %+v, %v", r, err)
	}
	// A key owned by someone else is not this actor's key.
	r, _ = actors.ParseActor(iri, doc(func(m map[string]any) {
		m["publicKey"] = map[string]any{"id": iri + "#main-key", "owner": "https://r.example/users/eve", "publicKeyPem": "x"}
	}))
	if r.KeyID != "" {
		t.Errorf("key of another owner kept: %q", r.KeyID)
	}
}

// TestResolveKey fetches keys from a real HTTP peer in both shapes seen in
// the wild, caches them, and refetches only when asked (key rotation).
func TestResolveKey(t *testing.T) {
	ctx := context.Background()
	// The peer's keys are real ones: made by another node's Service.
	peerKeys := service(t, "https://unused.example")
	bobActor, _ := peerKeys.Create(ctx, "bob", actors.Profile{})
	carolActor, _ := peerKeys.Create(ctx, "carol", actors.Profile{})

	var hits atomic.Int32
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := srv.URL
	actorDoc := func(user, keyID, pemText string) map[string]any {
		id := base + "/users/" + user
		return map[string]any{
			"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "Person", "preferredUsername": user,
			"inbox":     id + "/inbox",
			"publicKey": map[string]any{"id": keyID, "owner": id, "publicKeyPem": pemText},
		}
	}
	serve := func(path string, doc func() map[string]any) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if r.Header.Get("Signature") == "" {
				// As GoToSocial does: unsigned fetches get 401.
				http.Error(w, "sign your GETs", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/activity+json")
			_ = json.NewEncoder(w).Encode(doc())
		})
	}
	// Mastodon: the key id is a fragment of the actor.
	serve("/users/bob", func() map[string]any {
		return actorDoc("bob", base+"/users/bob#main-key", bobActor.PublicKeyPEM)
	})
	// GoToSocial: the key has a URL of its own that returns a key object.
	serve("/users/carol", func() map[string]any {
		return actorDoc("carol", base+"/users/carol/main-key", carolActor.PublicKeyPEM)
	})
	serve("/users/carol/main-key", func() map[string]any {
		return map[string]any{"id": base + "/users/carol/main-key", "owner": base + "/users/carol", "publicKeyPem": carolActor.PublicKeyPEM}
	})
	// A key document naming an owner who does not publish it.
	serve("/users/mallory/main-key", func() map[string]any {
		return map[string]any{"id": base + "/users/mallory/main-key", "owner": base + "/users/bob", "publicKeyPem": carolActor.PublicKeyPEM}
	})

	s := service(t, "https://coop.example")
	for _, tt := range []struct{ keyID, owner string }{
		{base + "/users/bob#main-key", base + "/users/bob"},
		{base + "/users/carol/main-key", base + "/users/carol"},
	} {
		k, err := s.ResolveKey(ctx, tt.keyID, false)
		if err != nil {
			t.Fatalf("%s: %v", tt.keyID, err)
		}
		if k.ID != tt.keyID || k.Owner != tt.owner {
			t.Errorf("key %+v", k)
		}
	}
	before := hits.Load()
	if _, err := s.ResolveKey(ctx, base+"/users/bob#main-key", false); err != nil || hits.Load() != before {
		t.Errorf("cached key fetched again (%d requests): %v", hits.Load()-before, err)
	}
	if _, err := s.ResolveKey(ctx, base+"/users/bob#main-key", true); err != nil || hits.Load() == before {
		t.Errorf("refresh did not refetch: %v", err)
	}
	if _, err := s.ResolveKey(ctx, base+"/users/mallory/main-key", false); tender.ErrorCode(err) != tender.EUnauthorized {
		t.Errorf("key not published by its claimed owner: %v, want unauthorized", err)
	}
	if _, err := s.ResolveKey(ctx, base+"/users/nobody#main-key", false); err == nil {
		t.Error("resolved a key of an actor that does not exist")
	}

	// Our own keys resolve locally, without any fetch.
	if _, err := s.Create(ctx, "democoop", actors.Profile{}); err != nil {
		t.Fatal(err)
	}
	k, err := s.ResolveKey(ctx, s.KeyID("democoop"), false)
	if err != nil || k.Owner != s.ActorURL("democoop") {
		t.Errorf("local key: %+v, %v", k, err)
	}
	if _, err := s.ResolveKey(ctx, s.ActorURL("democoop")+"#other-key", false); tender.ErrorCode(err) != tender.EUnauthorized {
		t.Errorf("unknown local key id: %v", err)
	}
}
