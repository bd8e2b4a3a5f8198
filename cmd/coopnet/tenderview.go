package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// budgetJSON is a budget in the --json output: decimal strings, as typed.
type budgetJSON struct {
	Min      string `json:"min,omitempty"`
	Max      string `json:"max"`
	Currency string `json:"currency"`
}

type lotJSON struct {
	ID     string      `json:"id"`
	Title  string      `json:"title"`
	Region string      `json:"region"`
	Budget *budgetJSON `json:"budget"`
}

type answerJSON struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

type questionJSON struct {
	ID       string `json:"id"`
	Author   string `json:"author"`
	Text     string `json:"text"`
	Answered bool   `json:"answered"`
	Answer   string `json:"answer,omitempty"`
}

type awardJSON struct {
	Bid      string `json:"bid"`
	Lot      string `json:"lot"`
	Winner   string `json:"winner"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Reason   string `json:"reason"`
}

// tenderJSON is the --json shape of a tender: id, owner, title,
// description, status, accepting_bids, deadline, lots, answers and (for the
// owner) questions are a public contract.
type tenderJSON struct {
	ID            string          `json:"id"`
	Owner         string          `json:"owner"`
	OwnerID       string          `json:"owner_id"`
	Title         string          `json:"title"`
	Description   string          `json:"description"`
	Status        string          `json:"status"`
	AcceptingBids bool            `json:"accepting_bids"`
	Deadline      string          `json:"deadline"`
	Categories    []string        `json:"categories"`
	Regions       []string        `json:"regions"`
	Languages     []string        `json:"languages"`
	Budget        *budgetJSON     `json:"budget"`
	Eligibility   string          `json:"eligibility,omitempty"`
	DeliveryStart string          `json:"delivery_start,omitempty"`
	DeliveryEnd   string          `json:"delivery_end,omitempty"`
	Parent        string          `json:"parent,omitempty"`
	Lots          []lotJSON       `json:"lots"`
	Awards        []awardJSON     `json:"awards"`
	CancelReason  string          `json:"cancel_reason,omitempty"`
	Answers       []answerJSON    `json:"answers"`
	Questions     *[]questionJSON `json:"questions,omitempty"`
	Local         bool            `json:"local"`
	Published     string          `json:"published"`
	Updated       string          `json:"updated"`
}

func budgetToJSON(b *tender.Budget) *budgetJSON {
	if b == nil {
		return nil
	}
	j := &budgetJSON{Max: tender.FormatAmount(b.Max, b.Currency), Currency: b.Currency}
	if b.Min > 0 {
		j.Min = tender.FormatAmount(b.Min, b.Currency)
	}
	return j
}

// handleOf names an actor by handle when we know it, else by URL.
func handleOf(ctx context.Context, n *node.Node, iri string) string {
	if u := n.Actors.UsernameFromURL(iri); u != "" && n.Actors.IsLocal(iri) {
		return n.Actors.Handle(u)
	}
	if r, err := n.DB.RemoteActor(ctx, iri); err == nil && r.Username != "" {
		return r.Handle()
	}
	return iri
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func nz(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// tenderToJSON builds the JSON of one tender as seen by viewer (nil: no
// acting co-op); the owner also sees the questions asked.
func tenderToJSON(ctx context.Context, n *node.Node, iri string, viewer *storage.LocalActor) (*tenderJSON, error) {
	rec, err := n.DB.Tender(ctx, iri)
	if err != nil {
		return nil, err
	}
	return recordToJSON(ctx, n, rec, viewer)
}

func recordToJSON(ctx context.Context, n *node.Node, rec *storage.TenderRecord, viewer *storage.LocalActor) (*tenderJSON, error) {
	t := rec.Tender
	j := &tenderJSON{
		ID: t.ID, Owner: handleOf(ctx, n, t.Owner), OwnerID: t.Owner, Title: t.Title, Description: t.Description,
		Status: string(t.Status), AcceptingBids: t.AcceptingBids(n.Now()), Deadline: fmtTime(t.Deadline),
		Categories: nz(t.Categories), Regions: nz(t.Regions), Languages: nz(t.Languages), Budget: budgetToJSON(t.Budget),
		Eligibility: t.Eligibility, DeliveryStart: fmtTime(t.DeliveryStart), DeliveryEnd: fmtTime(t.DeliveryEnd),
		Parent: t.Parent, Lots: []lotJSON{}, Awards: []awardJSON{}, CancelReason: t.CancelReason, Answers: []answerJSON{},
		Local: rec.ActorID != 0, Published: fmtTime(t.Published), Updated: fmtTime(t.Updated),
	}
	for _, l := range t.Lots {
		j.Lots = append(j.Lots, lotJSON{ID: l.ID, Title: l.Title, Region: l.Region, Budget: budgetToJSON(l.Budget)})
	}
	for _, a := range t.Awards {
		j.Awards = append(j.Awards, awardJSON{Bid: a.Bid, Lot: a.Lot, Winner: handleOf(ctx, n, a.Winner), Amount: tender.FormatAmount(a.Amount, a.Currency), Currency: a.Currency, Reason: a.Reason})
	}
	answers, err := n.DB.Answers(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range answers {
		j.Answers = append(j.Answers, answerJSON{Question: a.Question, Answer: a.Answer})
	}
	if rec.ActorID != 0 && (viewer == nil || viewer.ID == rec.ActorID) {
		qs, err := n.DB.Questions(ctx, t.ID, storage.QuestionReceived)
		if err != nil {
			return nil, err
		}
		list := []questionJSON{}
		for _, q := range qs {
			list = append(list, questionJSON{ID: q.Question.ID, Author: handleOf(ctx, n, q.Question.Author), Text: q.Question.Text, Answered: q.Question.Answered(), Answer: q.Question.Answer})
		}
		j.Questions = &list
	}
	return j, nil
}

func cmdTenderShow(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "tender show", "tender show URL [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	as := fs.String("as", "", "the local co-op viewing (optional)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		var viewer *storage.LocalActor
		if *as != "" {
			if viewer, err = actingActor(ctx, n, *as); err != nil {
				return err
			}
		}
		rec, err := n.DB.Tender(ctx, pos[0])
		if tender.ErrorCode(err) == tender.ENotFound && !n.Actors.IsLocal(pos[0]) {
			// Not seen here yet: fetch it from its origin, as the instance.
			inst, ierr := n.Actors.Instance(ctx)
			if ierr != nil {
				return ierr
			}
			rec, err = n.Tendering.Known(ctx, inst, pos[0])
		}
		if err != nil {
			return err
		}
		j, err := recordToJSON(ctx, n, rec, viewer)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, j)
		}
		printTender(env, j)
		return nil
	})
}

func printTender(env *cliEnv, j *tenderJSON) {
	w := env.stdout
	state := j.Status
	if j.AcceptingBids {
		state += ", open for bids"
	} else if j.Status == "active" {
		state += ", closed for bids"
	}
	fmt.Fprintf(w, "%s\n  by @%s · %s · bids until %s\n", j.Title, j.Owner, state, j.Deadline)
	if j.Budget != nil {
		fmt.Fprintf(w, "  budget: %s %s\n", strings.Trim(j.Budget.Min+"-"+j.Budget.Max, "-"), j.Budget.Currency)
	}
	if len(j.Regions)+len(j.Categories)+len(j.Languages) > 0 {
		fmt.Fprintf(w, "  regions: %s · work: %s · languages: %s\n", strings.Join(j.Regions, ", "), strings.Join(j.Categories, ", "), strings.Join(j.Languages, ", "))
	}
	fmt.Fprintf(w, "\n%s\n", j.Description)
	for _, l := range j.Lots {
		b := ""
		if l.Budget != nil {
			b = " · " + strings.Trim(l.Budget.Min+"-"+l.Budget.Max, "-") + " " + l.Budget.Currency
		}
		fmt.Fprintf(w, "\n  lot: %s (%s%s)\n    %s\n", l.Title, l.Region, b, l.ID)
	}
	for _, a := range j.Awards {
		fmt.Fprintf(w, "\n  awarded to @%s: %s %s %s\n", a.Winner, a.Amount, a.Currency, a.Reason)
	}
	for _, a := range j.Answers {
		fmt.Fprintf(w, "\n  Q: %s\n  A: %s\n", a.Question, a.Answer)
	}
	if j.Questions != nil {
		for _, q := range *j.Questions {
			st := "unanswered"
			if q.Answered {
				st = "answered"
			}
			fmt.Fprintf(w, "\n  question from @%s (%s): %s\n    %s\n", q.Author, st, q.Text, q.ID)
		}
	}
	fmt.Fprintf(w, "\n%s\n", j.ID)
}

func cmdTenderList(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "tender list", "tender list [--mine | --network] [--category C] [--region R] [--language L] [--open | --closed] [--json]")
	mine := fs.Bool("mine", false, "only the acting co-op's tenders")
	network := fs.Bool("network", false, "only tenders from actors this node's co-ops follow")
	category := fs.String("category", "", "only this category of work")
	region := fs.String("region", "", "only this region")
	language := fs.String("language", "", "only this language")
	open := fs.Bool("open", false, "only tenders open for bids")
	closed := fs.Bool("closed", false, "only tenders closed for bids")
	limit := fs.Int("limit", 100, "at most `N` tenders")
	as := fs.String("as", "", "the local co-op (for --mine)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *mine && *network {
		return usagef("--mine and --network exclude each other")
	}
	if *open && *closed {
		return usagef("--open and --closed exclude each other")
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		q := storage.TenderQuery{Network: *network, Now: n.Now(), Limit: *limit,
			Filter: tender.Filter{Category: *category, Region: *region, Language: *language}}
		if *open || *closed {
			v := *open
			q.Filter.Open = &v
		}
		var viewer *storage.LocalActor
		if *mine || *as != "" {
			var err error
			if viewer, err = actingActor(ctx, n, *as); err != nil {
				return err
			}
			if *mine {
				q.ActorID = viewer.ID
			}
		}
		recs, err := n.DB.Tenders(ctx, q)
		if err != nil {
			return err
		}
		out := []*tenderJSON{}
		for _, r := range recs {
			j, err := recordToJSON(ctx, n, r, viewer)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		var rows [][]string
		for _, j := range out {
			state := j.Status
			if j.AcceptingBids {
				state = "open"
			} else if j.Status == "active" {
				state = "closed"
			}
			rows = append(rows, []string{state, j.Deadline, "@" + j.Owner, j.Title, j.ID})
		}
		printTable(env.stdout, []string{"STATE", "DEADLINE", "OWNER", "TITLE", "ID"}, rows)
		return nil
	})
}
