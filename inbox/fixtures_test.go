package inbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/testrig"
)

// fixture is one inbox POST captured from a real server.
type fixture struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

const fixtureDir = "../federation/testdata/fixtures"

func loadFixture(t *testing.T, name string) fixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fixture) request() *http.Request {
	r := httptest.NewRequest(f.Method, "http://"+f.Headers["Host"]+f.Path, strings.NewReader(f.Body))
	for k, v := range f.Headers {
		r.Header.Set(k, v)
	}
	r.Host = f.Headers["Host"]
	return r
}

// fixtureNode is a node at the address the fixtures were sent to, with
// the senders' actors already cached (the fixtures' hosts do not exist
// here) and its clock at the capture time.
func fixtureNode(t *testing.T, at time.Time) (*node.Node, *time.Time) {
	t.Helper()
	now := at
	cfg, _, err := config.Parse([]byte(`
[server]
base_url = "http://127.0.0.9:18099"
[storage]
path = "`+filepath.Join(t.TempDir(), "c.db")+`"
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(context.Background(), cfg, node.Options{Now: func() time.Time { return now }, Log: testrig.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.Actors.Create(context.Background(), "probe", actors.Profile{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct{ iri, file string }{{"http://gts1.test/users/alice", "gotosocial/actor-alice.json"}, {"http://peer.test/users/dave", "fedify/actor-dave.json"}} {
		body, err := os.ReadFile(filepath.Join(fixtureDir, a.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := actors.ParseActor(a.iri, body)
		if err != nil {
			t.Fatalf("parse %s: %v", a.file, err)
		}
		if r.KeyID == "" {
			t.Fatalf("%s: no key found", a.file)
		}
		r.Fetched = at
		if err := n.DB.PutRemoteActor(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return n, &now
}

func post(n *node.Node, f fixture) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	n.Handler().ServeHTTP(w, f.request())
	return w
}

// TestRealServersDeliveries replays what GoToSocial and Fedify really
// sent: each is accepted at its capture time and applied; the same
// requests with the real clock are refused as replays.
func TestRealServersDeliveries(t *testing.T) {
	for _, c := range []struct {
		name, follow, undo, actor string
		more                      []string
	}{
		{"gotosocial", "gotosocial/follow.json", "gotosocial/undo-follow.json", "http://gts1.test/users/alice",
			[]string{"gotosocial/create-note-public-mention.json", "gotosocial/update-note.json", "gotosocial/delete-note.json", "gotosocial/create-note-direct.json"}},
		{"fedify", "fedify/follow.json", "fedify/undo-follow.json", "http://peer.test/users/dave", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			follow := loadFixture(t, c.follow)
			at, err := http.ParseTime(follow.Headers["Date"])
			if err != nil {
				t.Fatal(err)
			}
			n, now := fixtureNode(t, at.Add(30*time.Second))

			// With today's clock the capture is a replay: refused.
			*now = time.Now()
			if w := post(n, follow); w.Code != http.StatusUnauthorized {
				t.Errorf("replayed capture: %d %s, want 401", w.Code, w.Body)
			}
			*now = at.Add(30 * time.Second)

			if w := post(n, follow); w.Code != http.StatusAccepted {
				t.Fatalf("follow: %d %s", w.Code, w.Body)
			}
			if _, err := n.Inbox.ProcessPending(ctx, 10); err != nil {
				t.Fatal(err)
			}
			probe, _ := n.Actors.Get(ctx, "probe")
			fs, _ := n.DB.Follows(ctx, probe.ID, storage.DirFollower, storage.StateAccepted, 0, 0)
			if len(fs) != 1 || fs[0].Remote != c.actor {
				t.Fatalf("followers = %+v", fs)
			}
			ds, _ := n.DB.Deliveries(ctx, 10)
			if len(ds) != 1 || !strings.HasPrefix(ds[0].Inbox, c.actor) {
				t.Fatalf("Accept not queued to the follower's inbox: %+v", ds)
			}
			for _, name := range c.more {
				f := loadFixture(t, name)
				d, _ := http.ParseTime(f.Headers["Date"])
				*now = d.Add(time.Second)
				if w := post(n, f); w.Code != http.StatusAccepted {
					t.Errorf("%s: %d %s", name, w.Code, w.Body)
				}
			}
			undo := loadFixture(t, c.undo)
			d, _ := http.ParseTime(undo.Headers["Date"])
			*now = d.Add(time.Second)
			if w := post(n, undo); w.Code != http.StatusAccepted {
				t.Fatalf("undo: %d %s", w.Code, w.Body)
			}
			if _, err := n.Inbox.ProcessPending(ctx, 10); err != nil {
				t.Fatal(err)
			}
			if k, _ := n.DB.CountFollows(ctx, probe.ID, storage.DirFollower, ""); k != 0 {
				t.Errorf("%d followers after Undo", k)
			}
			stored, processed, _ := n.DB.CountInbox(ctx)
			if stored != 2+len(c.more) || processed != stored {
				t.Errorf("inbox stored %d processed %d", stored, processed)
			}
			// Replaying an accepted delivery changes nothing.
			if w := post(n, undo); w.Code != http.StatusAccepted {
				t.Errorf("replay: %d", w.Code)
			}
			if s, _, _ := n.DB.CountInbox(ctx); s != stored {
				t.Errorf("replay stored again")
			}
		})
	}
}
