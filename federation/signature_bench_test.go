package federation

// Benchmarks of the signature hot paths, beside the raw RSA-2048 cost of
// this machine, so that docs/performance.md can state each result as a
// multiple of the physical bound (see there for how to run them).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

const (
	benchKeyID = "https://bench.example/users/b#main-key"
	benchOwner = "https://bench.example/users/b"
)

// benchResolver always returns one key, as the actors cache does for a
// peer it has seen before (the common case under load).
type benchResolver struct{ key *PublicKey }

func (r benchResolver) ResolveKey(context.Context, string, bool) (*PublicKey, error) {
	return r.key, nil
}

func benchKey(b *testing.B) *rsa.PrivateKey {
	b.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// benchBody is the size of a typical Create{Note} delivery.
var benchBody = bytes.Repeat([]byte("x"), 1500)

// BenchmarkRSA2048Sign is the physical bound of every outgoing delivery:
// one PKCS#1 v1.5 SHA-256 signature with a 2048-bit key.
func BenchmarkRSA2048Sign(b *testing.B) {
	k := benchKey(b)
	sum := sha256.Sum256(benchBody)
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSA2048SignParallel is the same on all cores (GOMAXPROCS): the
// machine's signing throughput, the bound for a fan-out.
func BenchmarkRSA2048SignParallel(b *testing.B) {
	k := benchKey(b)
	sum := sha256.Sum256(benchBody)
	k.Precompute()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRSA2048Verify is the physical bound of every incoming activity.
func BenchmarkRSA2048Verify(b *testing.B) {
	k := benchKey(b)
	sum := sha256.Sum256(benchBody)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRequest is Signer.SignRequest on a POST: digest, signing
// string, one RSA signature.
func BenchmarkSignRequest(b *testing.B) {
	s := Signer{KeyID: benchKeyID, Key: benchKey(b)}
	now := time.Now()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, "https://peer.example/inbox", bytes.NewReader(benchBody))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.SignRequest(req, benchBody, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRequest is Verifier.Verify on a signed POST as a server
// sees it, with the key already resolved (cached): header parsing, our
// checks, digest, and one RSA verification.
func BenchmarkVerifyRequest(b *testing.B) {
	k := benchKey(b)
	now := time.Now()
	out, err := http.NewRequest(http.MethodPost, "https://node.example/inbox", bytes.NewReader(benchBody))
	if err != nil {
		b.Fatal(err)
	}
	if err := (Signer{KeyID: benchKeyID, Key: k}).SignRequest(out, benchBody, now); err != nil {
		b.Fatal(err)
	}
	in := httptest.NewRequest(http.MethodPost, "/inbox", nil)
	in.Host = "node.example"
	for name, v := range out.Header {
		if name != "Host" {
			in.Header[name] = v
		}
	}
	v := &Verifier{Keys: benchResolver{&PublicKey{ID: benchKeyID, Owner: benchOwner, Key: &k.PublicKey}}, Now: func() time.Time { return now }}
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.Verify(ctx, in, benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientPost is the delivery worker's sign-and-post: one signed
// POST over a kept-alive loopback connection to a server that answers 202.
func BenchmarkClientPost(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c := NewClient(ClientConfig{AllowPrivate: true, AllowInsecureHTTP: true, Timeout: 5 * time.Second})
	defer c.CloseIdleConnections()
	s := Signer{KeyID: benchKeyID, Key: benchKey(b)}
	ctx := context.Background()
	for b.Loop() {
		if status, err := c.Post(ctx, srv.URL+"/inbox", benchBody, s); err != nil || status != http.StatusAccepted {
			b.Fatalf("post: %d %v", status, err)
		}
	}
}
