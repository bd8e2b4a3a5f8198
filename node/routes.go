package node

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
	"github.com/gorilla/mux"
)

// pageSize is how many items one collection page holds.
const pageSize = 50

// routes builds the router. Inbox POSTs and the GETs that cost a query
// pass through the rate limits (limits.go) first; /healthz, host-meta,
// the NodeInfo links and /ns are static and are not limited.
func (n *Node) routes() http.Handler {
	r := mux.NewRouter()
	r.StrictSlash(false)
	r.HandleFunc("/healthz", n.handleHealth).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/.well-known/webfinger", n.limitGET(n.handleWebFinger)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/.well-known/host-meta", n.handleHostMeta).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/.well-known/nodeinfo", n.handleNodeInfoLinks).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/nodeinfo/2.1", n.limitGET(n.handleNodeInfo)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/ns", n.handleNamespace).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/inbox", n.limitInbox(n.handleInbox)).Methods(http.MethodPost)
	r.HandleFunc("/actor", n.limitGET(n.handleInstanceActor)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/actor/inbox", n.limitInbox(n.handleInbox)).Methods(http.MethodPost)
	r.HandleFunc("/users/{username}", n.limitGET(n.handleActor)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/users/{username}/inbox", n.limitInbox(n.handleInbox)).Methods(http.MethodPost)
	r.HandleFunc("/users/{username}/outbox", n.limitGET(n.handleOutbox)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/users/{username}/followers", n.limitGET(n.handleFollowCollection(storage.DirFollower))).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/users/{username}/following", n.limitGET(n.handleFollowCollection(storage.DirFollowing))).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/users/{username}/{kind}/{id}", n.limitGET(n.handleObject)).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/", n.limitGET(n.handleHome)).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.writeError(w, r, tender.Errorf(tender.ENotFound, "not found"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte("method not allowed\n"))
	})
	return n.logRequests(r)
}

func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request) {
	if _, err := n.DB.Usage(r.Context()); err != nil {
		n.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (n *Node) handleInbox(w http.ResponseWriter, r *http.Request) {
	user := mux.Vars(r)["username"]
	status, err := n.Inbox.Accept(r.Context(), r, user)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.WriteHeader(status)
}

// liveActor loads the named local actor for a GET, answering 404 or 410
// itself when there is none.
func (n *Node) liveActor(w http.ResponseWriter, r *http.Request) *storage.LocalActor {
	user := mux.Vars(r)["username"]
	if user == actors.InstanceUsername {
		n.writeError(w, r, tender.Errorf(tender.ENotFound, "no such actor"))
		return nil
	}
	a, err := n.Actors.Get(r.Context(), user)
	if tender.ErrorCode(err) == tender.EGone && !wantsHTML(r) {
		writeActivity(w, http.StatusGone, n.Actors.TombstoneDoc(a))
		return nil
	}
	if err != nil {
		n.writeError(w, r, err)
		return nil
	}
	return a
}

func (n *Node) handleActor(w http.ResponseWriter, r *http.Request) {
	a := n.liveActor(w, r)
	if a == nil {
		return
	}
	if wantsHTML(r) {
		n.renderActorPage(w, r, a)
		return
	}
	writeActivity(w, http.StatusOK, n.Actors.Document(a))
}

func (n *Node) handleInstanceActor(w http.ResponseWriter, r *http.Request) {
	a, err := n.Actors.Instance(r.Context())
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeActivity(w, http.StatusOK, n.Actors.Document(a))
}

// collection is an OrderedCollection or one of its pages.
type collection struct {
	Context      any    `json:"@context"`
	ID           string `json:"id"`
	Type         string `json:"type"`
	TotalItems   *int   `json:"totalItems,omitempty"`
	First        string `json:"first,omitempty"`
	PartOf       string `json:"partOf,omitempty"`
	Next         string `json:"next,omitempty"`
	OrderedItems []any  `json:"orderedItems,omitempty"`
}

func (n *Node) handleOutbox(w http.ResponseWriter, r *http.Request) {
	a := n.liveActor(w, r)
	if a == nil {
		return
	}
	ctx := r.Context()
	id := n.Actors.OutboxURL(a.Username)
	if r.URL.Query().Get("page") == "" {
		total, err := n.DB.CountOutbox(ctx, a.ID)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		writeActivity(w, http.StatusOK, collection{Context: federation.ActivityStreamsContext, ID: id, Type: "OrderedCollection", TotalItems: &total, First: id + "?page=true"})
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("max_id"), 10, 64)
	acts, err := n.DB.OutboxPage(ctx, a.ID, before, pageSize)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	page := collection{Context: federation.ActivityStreamsContext, ID: id + "?" + r.URL.RawQuery, Type: "OrderedCollectionPage", PartOf: id, OrderedItems: []any{}}
	for _, act := range acts {
		var m map[string]any
		if json.Unmarshal(act.Body, &m) == nil {
			delete(m, "@context")
			page.OrderedItems = append(page.OrderedItems, m)
		}
	}
	if len(acts) == pageSize {
		page.Next = id + "?page=true&max_id=" + strconv.FormatInt(acts[len(acts)-1].ID, 10)
	}
	writeActivity(w, http.StatusOK, page)
}

func (n *Node) handleFollowCollection(direction string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := n.liveActor(w, r)
		if a == nil {
			return
		}
		ctx := r.Context()
		id := n.Actors.FollowersURL(a.Username)
		if direction == storage.DirFollowing {
			id = n.Actors.FollowingURL(a.Username)
		}
		total, err := n.DB.CountFollows(ctx, a.ID, direction, storage.StateAccepted)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if pageNo < 1 {
			writeActivity(w, http.StatusOK, collection{Context: federation.ActivityStreamsContext, ID: id, Type: "OrderedCollection", TotalItems: &total, First: id + "?page=1"})
			return
		}
		fs, err := n.DB.Follows(ctx, a.ID, direction, storage.StateAccepted, (pageNo-1)*pageSize, pageSize)
		if err != nil {
			n.writeError(w, r, err)
			return
		}
		page := collection{Context: federation.ActivityStreamsContext, ID: id + "?page=" + strconv.Itoa(pageNo), Type: "OrderedCollectionPage", TotalItems: &total, PartOf: id, OrderedItems: []any{}}
		for _, f := range fs {
			page.OrderedItems = append(page.OrderedItems, f.Remote)
		}
		if pageNo*pageSize < total {
			page.Next = id + "?page=" + strconv.Itoa(pageNo+1)
		}
		writeActivity(w, http.StatusOK, page)
	}
}

// ObjectHandler serves objects of one kind (the path segment after the
// actor, such as "tenders"), for packages that publish their own. It
// returns ENotFound for ids it does not know.
type ObjectHandler func(w http.ResponseWriter, r *http.Request, a *storage.LocalActor, iri string) error

// handleObject serves our activities and stored objects at their ids.
// Only public ones are served here; private objects (bids, questions) need
// a verified signature and are served by their own handlers.
func (n *Node) handleObject(w http.ResponseWriter, r *http.Request) {
	a := n.liveActor(w, r)
	if a == nil {
		return
	}
	ctx := r.Context()
	iri := n.Actors.ActorURL(a.Username) + "/" + mux.Vars(r)["kind"] + "/" + mux.Vars(r)["id"]
	if h, ok := n.objectHandlers()[mux.Vars(r)["kind"]]; ok {
		if err := h(w, r, a, iri); err != nil {
			n.writeError(w, r, err)
		}
		return
	}
	if act, err := n.DB.ActivityByIRI(ctx, iri); err == nil && act.ActorID == a.ID {
		if !act.Public {
			n.writeError(w, r, tender.Errorf(tender.ENotFound, "not found"))
			return
		}
		writeActivityRaw(w, http.StatusOK, act.Body, nil)
		return
	}
	o, err := n.DB.ObjectByIRI(ctx, iri)
	if err != nil || o.ActorID != a.ID || !o.Public {
		n.writeError(w, r, tender.Errorf(tender.ENotFound, "not found"))
		return
	}
	if !o.Deleted.IsZero() {
		writeActivity(w, http.StatusGone, map[string]any{"@context": federation.ActivityStreamsContext, "id": iri, "type": "Tombstone", "formerType": o.Type})
		return
	}
	writeActivityRaw(w, http.StatusOK, o.Body, nil)
}

// objectHandlers serves the object kinds that are not plain stored
// documents.
func (n *Node) objectHandlers() map[string]ObjectHandler {
	return map[string]ObjectHandler{
		"tenders": n.serveTender,
		"bids":    n.serveBid,
	}
}

func (n *Node) handleWebFinger(w http.ResponseWriter, r *http.Request) {
	res, err := federation.ParseWebFingerResource(r.URL.Query().Get("resource"))
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	a, err := n.findWebFingerActor(r.Context(), res)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, "application/jrd+json", n.Actors.WebFinger(a))
}

func (n *Node) findWebFingerActor(ctx context.Context, res federation.WebFingerResource) (*storage.LocalActor, error) {
	notFound := tender.Errorf(tender.ENotFound, "no such user here")
	var user string
	if res.IsAcct() {
		if !strings.EqualFold(res.Host, n.Actors.Host()) {
			return nil, notFound
		}
		user = strings.ToLower(res.User)
		if user == strings.ToLower(n.Actors.Host()) {
			user = actors.InstanceUsername
		} else if user == actors.InstanceUsername {
			return nil, notFound
		}
	} else {
		user = n.Actors.UsernameFromURL(res.URL)
		if user == "" {
			return nil, notFound
		}
	}
	if user == actors.InstanceUsername {
		return n.Actors.Instance(ctx)
	}
	a, err := n.Actors.Get(ctx, user)
	if err != nil {
		if tender.ErrorCode(err) == tender.EGone {
			return nil, err
		}
		return nil, notFound
	}
	return a, nil
}

func (n *Node) handleHostMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">
  <Link rel="lrdd" template="` + n.Config.Server.BaseURL + `/.well-known/webfinger?resource={uri}"/>
</XRD>
`))
}

func (n *Node) handleNodeInfoLinks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, "application/json", map[string]any{
		"links": []map[string]string{{
			"rel":  "http://nodeinfo.diaspora.software/ns/schema/2.1",
			"href": n.Config.Server.BaseURL + "/nodeinfo/2.1",
		}},
	})
}

func (n *Node) handleNodeInfo(w http.ResponseWriter, r *http.Request) {
	u, err := n.DB.Usage(r.Context())
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, `application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"`, map[string]any{
		"version": "2.1",
		"software": map[string]any{
			"name":       "coopnet",
			"version":    Version,
			"repository": "https://github.com/coopnet/coopnet",
			"homepage":   n.Config.Server.BaseURL,
		},
		"protocols":         []string{"activitypub"},
		"services":          map[string]any{"inbound": []string{}, "outbound": []string{}},
		"openRegistrations": false,
		"usage": map[string]any{
			"users":      map[string]int{"total": u.Users, "activeMonth": u.Users, "activeHalfyear": u.Users},
			"localPosts": u.LocalPosts,
		},
		"metadata": map[string]any{"nodeName": n.Actors.Host()},
	})
}

func (n *Node) handleNamespace(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, "application/ld+json", federation.NamespaceDocument())
}
