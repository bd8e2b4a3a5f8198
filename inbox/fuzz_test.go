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
// body whose signature is taken as verified: decodeActivity (the one
// decode, id, actor and type), the origin check, then check (embedded
// object and go-fed's classification). It returns whether Accept would get as far as storing
// it. The key-owner, local-actor and block checks need a node and are
// covered by the inbox tests.
func parseForFuzz(t *testing.T, body []byte) bool {
	act, err := decodeActivity(body)
	if err != nil {
		return false
	}
	if !federation.SameOrigin(act.id, act.actor) {
		return false
	}
	// Same origin means same host, so a block of the actor's host covers
	// the activity's id too.
	if federation.Host(act.id) != federation.Host(act.actor) {
		t.Fatalf("SameOrigin(%q, %q) but hosts %q and %q differ", act.id, act.actor, federation.Host(act.id), federation.Host(act.actor))
	}
	return act.check(context.Background()) == nil
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
		// Read back independently of decodeActivity.
		var env struct {
			ID    any `json:"id"`
			Type  any `json:"type"`
			Actor any `json:"actor"`
		}
		_ = json.Unmarshal(body, &env)
		if id, _ := env.ID.(string); id == "" || idOf(env.Actor) == "" || typeOf(env.Type) == "" {
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
