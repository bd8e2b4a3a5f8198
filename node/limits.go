package node

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coopnet/coopnet/config"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/tender"
	"golang.org/x/time/rate"
)

// maxLimiterKeys bounds how many hosts or IPs one limiter tracks, so
// random keyId hosts or spoofed sources cannot grow it without limit.
const maxLimiterKeys = 65536

// keyedLimiter is a token bucket per key (remote host or client IP). Unlike
// federation.HostLimiter it says how long to wait, for Retry-After.
type keyedLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

// newKeyedLimiter returns a limiter of perSecond events per key with the
// given burst, or nil (no limit) when perSecond is 0.
func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &keyedLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), max: maxLimiterKeys, keys: map[string]*rate.Limiter{}}
}

// allow takes a token for key at now, or says how long until one is
// there. A nil limiter allows everything.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= l.max {
			// Buckets that have refilled hold no state worth keeping.
			for k, kl := range l.keys {
				if kl.TokensAt(now) >= float64(l.burst) {
					delete(l.keys, k)
				}
			}
			if len(l.keys) >= l.max {
				// Every tracked key is busy: a flood from more sources than
				// we track. Refuse newcomers rather than forget the busy.
				return false, time.Second
			}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		// Give the token back: a refused request must not push the
		// client's next allowed time further out.
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// limits are the node's request limits (nil members are off).
type limits struct {
	inboxHost *keyedLimiter // inbox POSTs per remote host (the keyId's)
	inboxIP   *keyedLimiter // inbox POSTs per client IP
	getIP     *keyedLimiter // costly GETs per client IP
}

// newLimits builds the limits from [limits]. The per-IP inbox bucket uses
// the per-host values: a peer's server posts from its own addresses, so a
// legitimate peer fits both; one IP cycling through made-up keyId hosts
// (each with a fresh host bucket) is stopped by the IP bucket.
func newLimits(c config.Limits) *limits {
	return &limits{
		inboxHost: newKeyedLimiter(c.InboxPerHost, c.InboxBurst),
		inboxIP:   newKeyedLimiter(c.InboxPerHost, c.InboxBurst),
		getIP:     newKeyedLimiter(c.GetPerIP, c.GetBurst),
	}
}

// tooMany answers 429 with Retry-After in whole seconds (at least 1).
func (n *Node) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, what string) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	n.writeError(w, r, tender.Errorf(tender.ERateLimited, "too many requests from this %s; retry later", what))
}

// limitInbox applies the per-host and per-IP inbox limits before anything
// else is done with the request: the host is the keyId's, read from the
// Signature header without verifying it (no key fetch, no body read), so a
// flood costs us a header parse. A forged keyId only spends that host's
// tokens, and the IP bucket still applies.
func (n *Node) limitInbox(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := n.Now()
		if n.limits.inboxHost != nil {
			if p, err := federation.ParseSignatureHeader(r.Header.Get("Signature")); err == nil {
				if host := federation.Host(p["keyId"]); host != "" {
					if ok, wait := n.limits.inboxHost.allow(host, now); !ok {
						n.tooMany(w, r, wait, "host")
						return
					}
				}
			}
		}
		if ok, wait := n.limits.inboxIP.allow(n.clientIP(r), now); !ok {
			n.tooMany(w, r, wait, "address")
			return
		}
		next(w, r)
	}
}

// limitGET applies the per-IP limit to GETs that cost a database query.
func (n *Node) limitGET(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := n.limits.getIP.allow(n.clientIP(r), n.Now()); !ok {
			n.tooMany(w, r, wait, "address")
			return
		}
		next(w, r)
	}
}
