package node

import (
	"embed"
	"html/template"
	"net/http"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/storage"
	"github.com/microcosm-cc/bluemonday"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates are parsed once per process; they are immutable after that,
// so sharing them between nodes is safe.
var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))

// ugc is the policy for any HTML that came from outside: remote names,
// summaries and content pass through it before a page shows them.
var ugc = bluemonday.UGCPolicy()

// SanitizeHTML makes remote HTML safe to embed in our pages.
func SanitizeHTML(s string) template.HTML {
	return template.HTML(ugc.Sanitize(s)) //nolint:gosec // sanitised above
}

type openGraph struct {
	Title, Description, URL string
}

type page struct {
	Title     string
	Site      string
	OG        *openGraph
	Alternate string
	Actors    []actorView
	Actor     *actorView
	Data      any
}

type tenderLink struct {
	URL, Title, Deadline string
}

type actorView struct {
	Name, Handle, URL              string
	Summary                        template.HTML
	Regions, Categories, Languages []string
	Followers                      int
	Tenders                        []tenderLink
}

func (n *Node) render(w http.ResponseWriter, r *http.Request, name string, p *page) {
	p.Site = n.Actors.Host()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", "Accept")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:")
	if err := templates.ExecuteTemplate(w, name, p); err != nil {
		n.Log.Error("render page", "template", name, "err", err)
	}
}

func (n *Node) handleHome(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	list, err := n.DB.LocalActors(r.Context())
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	p := &page{Title: n.Actors.Host() + " · coopnet"}
	for _, a := range list {
		p.Actors = append(p.Actors, actorView{Name: a.Name, Handle: n.Actors.Handle(a.Username), URL: n.Actors.ActorURL(a.Username)})
	}
	n.render(w, r, "home.html", p)
}

func (n *Node) renderActorPage(w http.ResponseWriter, r *http.Request, a *storage.LocalActor) {
	followers, err := n.DB.CountFollows(r.Context(), a.ID, storage.DirFollower, storage.StateAccepted)
	if err != nil {
		n.writeError(w, r, err)
		return
	}
	id := n.Actors.ActorURL(a.Username)
	v := &actorView{
		Name: a.Name, Handle: n.Actors.Handle(a.Username), URL: id,
		// Local text, escaped by TextToHTML; sanitised all the same so the
		// page never depends on where the text came from.
		Summary: SanitizeHTML(actors.TextToHTML(a.Summary)),
		Regions: a.Regions, Categories: a.Categories, Languages: a.Languages, Followers: followers,
	}
	v.Tenders = n.openTenderLinks(r, a)
	n.render(w, r, "actor.html", &page{
		Title:     a.Name + " (@" + v.Handle + ")",
		OG:        &openGraph{Title: a.Name, Description: a.Summary, URL: id},
		Alternate: id,
		Actor:     v,
	})
}
