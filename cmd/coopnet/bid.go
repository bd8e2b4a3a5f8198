package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

const questionHelp = `Usage: coopnet question SUBCOMMAND

  ask TENDER_URL --text TEXT [--as ACTOR]        sent to the tender's owner only
  answer QUESTION_URL --text TEXT [--as ACTOR]   public; everyone who asked or bid is told
`

func cmdQuestion(ctx context.Context, env *cliEnv, args []string) error {
	return subcommands(ctx, env, "question", questionHelp, map[string]func(context.Context, *cliEnv, []string) error{
		"ask": cmdQuestionAsk, "answer": cmdQuestionAnswer,
	}, args)
}

// withActing opens the node and picks the acting co-op.
func withActing(ctx context.Context, env *cliEnv, cfg, as string, fn func(*node.Node, *storage.LocalActor) error) error {
	return withNode(ctx, env, cfg, func(n *node.Node) error {
		a, err := actingActor(ctx, n, as)
		if err != nil {
			return err
		}
		return fn(n, a)
	})
}

func cmdQuestionAsk(ctx context.Context, env *cliEnv, args []string) error {
	return questionCommand(ctx, env, args, "ask", "TENDER_URL", "the question", "the local co-op asking",
		func(n *node.Node, a *storage.LocalActor, url, text string) (string, error) {
			q, err := n.Tendering.Ask(ctx, a, url, text)
			if err != nil {
				return "", err
			}
			return "question sent to the tender's owner\n" + q.ID, nil
		})
}

func cmdQuestionAnswer(ctx context.Context, env *cliEnv, args []string) error {
	return questionCommand(ctx, env, args, "answer", "QUESTION_URL", "the answer (public)", "the local co-op answering",
		func(n *node.Node, a *storage.LocalActor, url, text string) (string, error) {
			ans, err := n.Tendering.Answer(ctx, a, url, text)
			if err != nil {
				return "", err
			}
			return "answer published\n" + ans.IRI, nil
		})
}

// questionCommand is what question ask and question answer share: one URL
// argument, a required --text, the acting co-op, and a result whose last
// line is the new object's URL.
func questionCommand(ctx context.Context, env *cliEnv, args []string, sub, arg, textHelp, asHelp string,
	act func(n *node.Node, a *storage.LocalActor, url, text string) (string, error)) error {
	fs, cfg := flagSet(env, "question "+sub, "question "+sub+" "+arg+" --text TEXT [--as ACTOR]")
	text := fs.String("text", "", textHelp)
	as := fs.String("as", "", asHelp)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*text) == "" {
		return tender.FieldErrorf("text", "required")
	}
	return withActing(ctx, env, *cfg, *as, func(n *node.Node, a *storage.LocalActor) error {
		out, err := act(n, a, pos[0], *text)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, out)
		return nil
	})
}

const bidHelp = `Usage: coopnet bid SUBCOMMAND

  submit TENDER_URL --amount N --currency CUR [--lot LOT_URL] --text TEXT [--delivery-plan TEXT] [--as ACTOR]
  withdraw BID_URL [--as ACTOR]
  list [TENDER_URL] [--as ACTOR] [--json]   bids received (as owner) and sent (as bidder)

Bids are sealed: addressed to the tender's owner alone, and their amount and
text stay hidden on the owner's node until the deadline has passed.
`

func cmdBid(ctx context.Context, env *cliEnv, args []string) error {
	return subcommands(ctx, env, "bid", bidHelp, map[string]func(context.Context, *cliEnv, []string) error{
		"submit": cmdBidSubmit, "withdraw": cmdBidWithdraw, "list": cmdBidList,
	}, args)
}

func cmdBidSubmit(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "bid submit", "bid submit TENDER_URL --amount N --currency CUR [--lot LOT_URL] --text TEXT")
	amount := fs.String("amount", "", "the price")
	currency := fs.String("currency", "", "ISO 4217 currency of the price")
	lot := fs.String("lot", "", "the lot bid on (URL); omit for the whole tender")
	text := fs.String("text", "", "the proposal")
	plan := fs.String("delivery-plan", "", "how and when the work is delivered")
	as := fs.String("as", "", "the local co-op bidding")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cur := tender.NormalizeCurrency(*currency)
	if cur == "" {
		return tender.FieldErrorf("currency", "required")
	}
	if !tender.ValidCurrency(cur) {
		return tender.FieldErrorf("currency", "%q is not an ISO 4217 currency", *currency)
	}
	if *amount == "" {
		return tender.FieldErrorf("amount", "required")
	}
	amt, err := tender.ParseAmount(*amount, cur)
	if err != nil {
		return err
	}
	return withActing(ctx, env, *cfg, *as, func(n *node.Node, a *storage.LocalActor) error {
		b, err := n.Tendering.Submit(ctx, a, &tender.Bid{Tender: pos[0], Lot: *lot, Amount: amt, Currency: cur, Text: *text, DeliveryPlan: *plan})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "bid queued for the tender's owner (status submitted; delivered once their inbox accepts it)\n%s\n", b.ID)
		return nil
	})
}

func cmdBidWithdraw(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "bid withdraw", "bid withdraw BID_URL [--as ACTOR]")
	as := fs.String("as", "", "the local co-op that bid")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withActing(ctx, env, *cfg, *as, func(n *node.Node, a *storage.LocalActor) error {
		b, err := n.Tendering.Withdraw(ctx, a, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "bid withdrawn\n%s\n", b.ID)
		return nil
	})
}

// bidJSON is the --json shape of a bid: id, tender, lot, bidder, status,
// amount, currency, text and reason are a public contract. Before the
// deadline the owner sees sealed: true and no amount or text.
type bidJSON struct {
	ID           string  `json:"id"`
	Tender       string  `json:"tender"`
	Lot          string  `json:"lot"`
	Bidder       string  `json:"bidder"`
	BidderID     string  `json:"bidder_id"`
	Status       string  `json:"status"`
	Amount       *string `json:"amount,omitempty"`
	Currency     string  `json:"currency,omitempty"`
	Text         *string `json:"text,omitempty"`
	DeliveryPlan *string `json:"delivery_plan,omitempty"`
	Reason       string  `json:"reason"`
	Sealed       bool    `json:"sealed"`
	Side         string  `json:"side"`
	Submitted    string  `json:"submitted,omitempty"`
	Received     string  `json:"received,omitempty"`
}

func cmdBidList(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "bid list", "bid list [TENDER_URL] [--as ACTOR] [--json]")
	as := fs.String("as", "", "the local co-op (default: every co-op on this node)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		q := storage.BidQuery{}
		if len(pos) == 1 {
			q.Tender = pos[0]
		}
		if *as != "" {
			a, err := actingActor(ctx, n, *as)
			if err != nil {
				return err
			}
			q.ActorID = a.ID
		}
		out := []bidJSON{}
		now := n.Now()
		sealedFor := map[string]bool{}
		for _, side := range []string{storage.BidReceived, storage.BidSent} {
			q.Side = side
			list, err := n.DB.Bids(ctx, q)
			if err != nil {
				return err
			}
			for _, r := range list {
				b := r.Bid
				j := bidJSON{ID: b.ID, Tender: b.Tender, Lot: b.Lot, Bidder: handleOf(ctx, n, b.Bidder), BidderID: b.Bidder, Status: string(b.Status),
					Currency: b.Currency, Reason: b.Reason, Side: side, Submitted: fmtTime(b.Submitted), Received: fmtTime(b.Received)}
				sealed := false
				if side == storage.BidReceived {
					s, ok := sealedFor[b.Tender]
					if !ok {
						rec, err := n.DB.Tender(ctx, b.Tender)
						s = err != nil || rec.Tender.Sealed(now)
						sealedFor[b.Tender] = s
					}
					sealed = s
				}
				if sealed {
					// Sealed until the deadline: not even the owner's staff
					// see the price or the proposal.
					j.Sealed, j.Currency = true, ""
				} else {
					amt := tender.FormatAmount(b.Amount, b.Currency)
					j.Amount, j.Text, j.DeliveryPlan = &amt, &b.Text, &b.DeliveryPlan
				}
				out = append(out, j)
			}
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		var rows [][]string
		for _, j := range out {
			amount := "sealed"
			if j.Amount != nil {
				amount = *j.Amount + " " + j.Currency
			}
			rows = append(rows, []string{j.Side, j.Status, "@" + j.Bidder, amount, j.ID})
		}
		printTable(env.stdout, []string{"SIDE", "STATUS", "BIDDER", "AMOUNT", "ID"}, rows)
		return nil
	})
}

func cmdAward(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "award", "award BID_URL [--reason TEXT] [--as ACTOR]")
	reason := fs.String("reason", "", "why this bid won (public)")
	as := fs.String("as", "", "the local co-op awarding")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withActing(ctx, env, *cfg, *as, func(n *node.Node, a *storage.LocalActor) error {
		aw, err := n.Tendering.Award(ctx, a, pos[0], *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "awarded to %s for %s %s; the other bids are rejected\n%s\n", handleOf(ctx, n, aw.Winner), tender.FormatAmount(aw.Amount, aw.Currency), aw.Currency, aw.Bid)
		return nil
	})
}

// notificationJSON is the --json shape of notifications.
type notificationJSON struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	Actor    string `json:"actor"`
	ActorID  string `json:"actor_id"`
	Object   string `json:"object"`
	Summary  string `json:"summary"`
	Activity string `json:"activity"`
	Created  string `json:"created"`
	For      string `json:"for"`
}

func cmdNotifications(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "notifications", "notifications [--as ACTOR] [--json] [--limit N]")
	as := fs.String("as", "", "the local co-op (default: every co-op on this node)")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 100, "at most `N` per co-op")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		var list []*storage.LocalActor
		var err error
		if *as != "" {
			a, err := actingActor(ctx, n, *as)
			if err != nil {
				return err
			}
			list = []*storage.LocalActor{a}
		} else if list, err = n.DB.LocalActors(ctx); err != nil {
			return err
		}
		out := []notificationJSON{}
		for _, a := range list {
			ns, err := n.DB.Notifications(ctx, a.ID, *limit)
			if err != nil {
				return err
			}
			for _, x := range ns {
				out = append(out, notificationJSON{ID: x.ID, Kind: x.Kind, Actor: handleOf(ctx, n, x.Remote), ActorID: x.Remote, Object: x.Object, Summary: x.Summary, Activity: x.Activity, Created: fmtTime(x.Created), For: a.Username})
			}
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		var rows [][]string
		for _, j := range out {
			rows = append(rows, []string{j.Created, j.For, j.Kind, "@" + j.Actor, j.Summary, j.Object})
		}
		printTable(env.stdout, []string{"WHEN", "FOR", "KIND", "FROM", "SUMMARY", "OBJECT"}, rows)
		return nil
	})
}
