package outbox_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/testrig"
)

// BenchmarkDeliverSignAndPost is what a delivery worker does for each
// inbox: load the sending actor's signer, sign the POST at send time
// (RSA-2048) and post it through the node's federation client (SSRF
// guard, timeouts, kept-alive connections) to a peer answering 202. It
// runs on all cores, as the workers do; compare its ns/op with
// BenchmarkRSA2048SignParallel in federation for the signing bound.
func BenchmarkDeliverSignAndPost(b *testing.B) {
	n := testrig.NewNode(b, testrig.NewClock())
	a := n.CreateActor("acoop", actors.Profile{Name: "A co-op"})
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer peer.Close()
	doc := n.Actors.Document(a)
	act := n.Outbox.New(a, "Update", doc)
	out, err := n.Outbox.Prepare(context.Background(), a, act, true)
	if err != nil {
		b.Fatal(err)
	}
	body := out.Body
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			la, err := n.DB.LocalActor(ctx, "acoop")
			if err != nil {
				b.Error(err)
				return
			}
			signer, err := n.Actors.Signer(la)
			if err != nil {
				b.Error(err)
				return
			}
			if status, err := n.Client.Post(ctx, peer.URL+"/inbox", body, *signer); err != nil || status != http.StatusAccepted {
				b.Errorf("post: %d %v", status, err)
				return
			}
		}
	})
}
