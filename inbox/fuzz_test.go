package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/coopnet/coopnet/federation"
)

// parseForFuzz runs the body-parsing steps of Accept, in its order, on a
// body whose signature is taken as verified: the envelope, idOf/typeOf,
// the origin check, checkEmbedded, the map decode and go-fed's
// classification. It returns whether Accept would get as far as storing
// it. The key-owner, local-actor and block checks need a node and are
// covered by the inbox tests.
func parseForFuzz(t *testing.T, body []byte) bool {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return false
	}
	actor := idOf(env.Actor)
	typ := typeOf(env.Type)
	if env.ID == "" || actor == "" || typ == "" {
		return false
	}
	if !federation.SameOrigin(env.ID, actor) {
		return false
	}
	// Same origin means same host, so a block of the actor's host covers
	// the activity's id too.
	if federation.Host(env.ID) != federation.Host(actor) {
		t.Fatalf("SameOrigin(%q, %q) but hosts %q and %q differ", env.ID, actor, federation.Host(env.ID), federation.Host(actor))
	}
	if err := checkEmbedded(env.Object, actor); err != nil {
		return false
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		// The envelope decoded, so the body is a JSON object: the map
		// must decode too, or Accept would answer 400 late.
		t.Fatalf("envelope decoded but the map did not: %v", err)
	}
	if _, ok := m["@context"]; !ok {
		m["@context"] = federation.ActivityStreamsContext
	}
	if err := classify(context.Background(), m); err != nil {
		return false
	}
	return true
}

// FuzzParseActivity feeds arbitrary bodies to the incoming-activity
// parsing path. It must never panic, and what it accepts must have an id,
// an actor and a type, with the id on the actor's origin. The seed corpus
// (testdata/fuzz/FuzzParseActivity) holds the real GoToSocial and Fedify
// deliveries from federation/testdata/fixtures and hostile shapes.
// Run longer with: go test ./inbox -run '^$' -fuzz FuzzParseActivity -fuzztime 5m
func FuzzParseActivity(f *testing.F) {
	for _, s := range []string{
		`{"id":"https://a.example/1","type":"Follow","actor":"https://a.example/u","object":"https://b.example/u"}`,
		`{"id":"https://a.example/1","type":["Create"],"actor":[{"id":"https://a.example/u"}],"object":{"id":"https://a.example/n","type":"Note","attributedTo":"https://a.example/u"}}`,
		`{"id":"https://a.example/1","type":"Create","actor":"https://a.example/u","object":{"id":"https://evil.example/n","type":"Note"}}`,
		`{"id":"https://a.example:443/1","type":"Undo","actor":"https://A.example/u","object":{"type":"Follow","actor":"https://a.example/u"}}`,
		`{"id":"https://a.example/1","type":"Update","actor":"https://a.example/u","object":[[[[[{"id":"x"}]]]]]}`,
		`null`, `[]`, `{}`, `{"id":1}`, `{"actor":{"id":{"id":"x"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > MaxBody {
			return
		}
		if !parseForFuzz(t, body) {
			return
		}
		var env envelope
		_ = json.Unmarshal(body, &env)
		if env.ID == "" || idOf(env.Actor) == "" || typeOf(env.Type) == "" {
			t.Fatalf("accepted without id, actor or type: %q", body)
		}
	})
}

// TestParseForFuzzAcceptsRealDeliveries keeps the fuzz harness honest:
// real deliveries from GoToSocial and Fedify get all the way through it.
func TestParseForFuzzAcceptsRealDeliveries(t *testing.T) {
	for _, name := range []string{"gotosocial/follow.json", "gotosocial/create-note-public-mention.json", "gotosocial/create-note-direct.json",
		"gotosocial/update-note.json", "gotosocial/delete-note.json", "gotosocial/undo-follow.json", "fedify/follow.json", "fedify/undo-follow.json"} {
		b, err := readFixtureBody(name)
		if err != nil {
			t.Fatal(err)
		}
		if !parseForFuzz(t, b) {
			t.Errorf("%s: refused", name)
		}
	}
}

// readFixtureBody returns the signed body of one captured delivery.
func readFixtureBody(name string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join("..", "federation", "testdata", "fixtures", name))
	if err != nil {
		return nil, err
	}
	var f struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return []byte(f.Body), nil
}
