package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/tender"
)

// statusOf maps an error code to an HTTP status: the one place this is
// decided.
func statusOf(code string) int {
	switch code {
	case "":
		return http.StatusOK
	case tender.EInvalid:
		return http.StatusBadRequest
	case tender.EUnauthorized:
		return http.StatusUnauthorized
	case tender.EForbidden:
		return http.StatusForbidden
	case tender.ENotFound:
		return http.StatusNotFound
	case tender.EConflict:
		return http.StatusConflict
	case tender.EGone:
		return http.StatusGone
	case tender.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case tender.ERateLimited:
		return http.StatusTooManyRequests
	case tender.EUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers with the error's status and a short reason, as JSON
// for machines and plain text otherwise. Internal details are logged, not
// sent.
func (n *Node) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tender.ErrorCode(err)
	status := statusOf(code)
	if status >= 500 {
		n.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var se *federation.StatusError
	if errors.As(err, &se) && code == tender.EInternal {
		status = http.StatusBadGateway
	}
	msg := tender.ErrorMessage(err)
	if status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if strings.Contains(r.Header.Get("Accept"), "html") && !federation.IsActivityJSON(r.Header.Get("Accept")) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(http.StatusText(status) + ": " + msg + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// writeJSON answers with v as JSON of the given content type.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	// No HTML escaping: summaries and content are HTML, and peers read
	// them more easily without \u003c everywhere.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// writeActivity answers with an ActivityPub document. Vary: Accept because
// the same URL serves HTML to browsers.
func writeActivity(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Vary", "Accept")
	writeActivityRaw(w, status, nil, v)
}

func writeActivityRaw(w http.ResponseWriter, status int, raw []byte, v any) {
	w.Header().Set("Vary", "Accept")
	if raw != nil {
		w.Header().Set("Content-Type", federation.ContentTypeActivity)
		w.WriteHeader(status)
		_, _ = w.Write(raw)
		return
	}
	writeJSON(w, status, federation.ContentTypeActivity, v)
}

// wantsHTML reports whether the client prefers a page to a document:
// browsers send text/html and never an ActivityPub type.
func wantsHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/html") && !federation.IsActivityJSON(accept)
}

// clientIP is the address of the client: the peer address, or the last
// X-Forwarded-For hop not added by a trusted proxy when the request came
// through one.
func (n *Node) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !n.trusted(host) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if !n.trusted(h) {
			return h
		}
		host = h
	}
	return host
}

func (n *Node) trusted(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, c := range n.proxies {
		if c.Contains(p) {
			return true
		}
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// logRequests logs every request at debug level and failures at info, so
// a busy inbox does not flood the log.
func (n *Node) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		// 429s are left at debug: a flood must not become a flood of
		// log lines.
		if rec.status >= 400 && rec.status != http.StatusTooManyRequests {
			level = slog.LevelInfo
		}
		n.Log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "ms", time.Since(start).Milliseconds(), "ip", n.clientIP(r))
	})
}
