package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
	"github.com/coopnet/coopnet/tender"
)

// actingActor picks the co-op a command acts as: --as, or the only local
// actor when there is just one.
func actingActor(ctx context.Context, n *node.Node, as string) (*storage.LocalActor, error) {
	if as != "" {
		a, err := n.Actors.Get(ctx, strings.TrimPrefix(as, "@"))
		if err != nil {
			return nil, &tender.Error{Code: tender.ENotFound, Field: "as", Message: fmt.Sprintf("no local co-op %q", as)}
		}
		return a, nil
	}
	list, err := n.DB.LocalActors(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, &tender.Error{Code: tender.EInvalid, Field: "as", Message: fmt.Sprintf("required: this node hosts %d co-ops", len(list))}
	}
	return list[0], nil
}

const tenderHelp = `Usage: coopnet tender SUBCOMMAND

  publish --title T --description D --deadline RFC3339 [--category C]... [--region R]... [--language L]...
          [--budget-min N --budget-max N --currency EUR] [--lot "TITLE|REGION|BUDGET"]... [--parent LOT_OR_TENDER_URL]
          [--eligibility TEXT] [--delivery-start RFC3339] [--delivery-end RFC3339] [--as ACTOR]
  amend URL [any publish flags]    changes only the flags given; --lot adds lots
  cancel URL --reason TEXT
  show URL [--json]
  list [--mine | --network] [--category C] [--region R] [--language L] [--open | --closed] [--json]

Creating commands print the new object's URL as their last line.
`

func cmdTender(ctx context.Context, env *cliEnv, args []string) error {
	return subcommands(ctx, env, "tender", tenderHelp, map[string]func(context.Context, *cliEnv, []string) error{
		"publish": cmdTenderPublish, "amend": cmdTenderAmend, "cancel": cmdTenderCancel, "show": cmdTenderShow, "list": cmdTenderList,
	}, args)
}

// tenderFlags are the flags publish and amend share.
type tenderFlags struct {
	title, description, deadline, currency, parent, eligibility *string
	budgetMin, budgetMax, deliveryStart, deliveryEnd            *string
	categories, regions, languages, lots                        stringList
	as                                                          *string
}

func addTenderFlags(fs *flag.FlagSet) *tenderFlags {
	f := &tenderFlags{
		title:         fs.String("title", "", "the tender's title"),
		description:   fs.String("description", "", "what is to be done (plain text)"),
		deadline:      fs.String("deadline", "", "bid deadline, RFC 3339 (e.g. 2027-01-31T17:00:00Z)"),
		currency:      fs.String("currency", "", "ISO 4217 currency of the budget (e.g. EUR, CAD)"),
		budgetMin:     fs.String("budget-min", "", "lowest expected price"),
		budgetMax:     fs.String("budget-max", "", "highest expected price"),
		parent:        fs.String("parent", "", "URL of the lot or tender this sub-contracts"),
		eligibility:   fs.String("eligibility", "", "who may bid (e.g. co-operatives only)"),
		deliveryStart: fs.String("delivery-start", "", "start of the delivery period, RFC 3339"),
		deliveryEnd:   fs.String("delivery-end", "", "end of the delivery period, RFC 3339"),
		as:            fs.String("as", "", "the local co-op acting (optional when the node hosts one)"),
	}
	fs.Var(&f.categories, "category", "a category of work (repeatable)")
	fs.Var(&f.regions, "region", "a region where the work is delivered (repeatable)")
	fs.Var(&f.languages, "language", "a human or programming language (repeatable)")
	fs.Var(&f.lots, "lot", `a lot "TITLE|REGION|BUDGET" (BUDGET: MAX or MIN-MAX; repeatable)`)
	return f
}

func parseRFC3339(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, tender.FieldErrorf(field, "%q is not an RFC 3339 time (e.g. 2027-01-31T17:00:00Z)", s)
	}
	return t.UTC(), nil
}

func parseAmountField(field, s, currency string) (int64, error) {
	v, err := tender.ParseAmount(s, currency)
	if err != nil {
		if te, ok := err.(*tender.Error); ok && te.Field == "amount" {
			return 0, tender.FieldErrorf(field, "%s", te.Message)
		}
		return 0, err
	}
	return v, nil
}

// parseLot reads "TITLE|REGION|BUDGET".
func parseLot(s, currency string) (tender.Lot, error) {
	parts := strings.Split(s, "|")
	if len(parts) > 3 || strings.TrimSpace(parts[0]) == "" {
		return tender.Lot{}, tender.FieldErrorf("lot", "%q is not \"TITLE|REGION|BUDGET\"", s)
	}
	l := tender.Lot{Title: strings.TrimSpace(parts[0])}
	if len(parts) > 1 {
		l.Region = strings.TrimSpace(parts[1])
	}
	if len(parts) > 2 && strings.TrimSpace(parts[2]) != "" {
		if currency == "" {
			return l, tender.FieldErrorf("currency", "required when a lot has a budget")
		}
		b := &tender.Budget{Currency: currency}
		lo, hi, isRange := strings.Cut(strings.TrimSpace(parts[2]), "-")
		var err error
		if isRange {
			if b.Min, err = parseAmountField("lot", strings.TrimSpace(lo), currency); err != nil {
				return l, err
			}
		} else {
			hi = lo
		}
		if b.Max, err = parseAmountField("lot", strings.TrimSpace(hi), currency); err != nil {
			return l, err
		}
		l.Budget = b
	}
	return l, nil
}

func (f *tenderFlags) budget(currency string) (*tender.Budget, error) {
	if *f.budgetMin == "" && *f.budgetMax == "" {
		return nil, nil
	}
	if currency == "" {
		return nil, tender.FieldErrorf("currency", "required with a budget")
	}
	b := &tender.Budget{Currency: currency}
	var err error
	if *f.budgetMin != "" {
		if b.Min, err = parseAmountField("budget-min", *f.budgetMin, currency); err != nil {
			return nil, err
		}
	}
	if *f.budgetMax != "" {
		if b.Max, err = parseAmountField("budget-max", *f.budgetMax, currency); err != nil {
			return nil, err
		}
	} else {
		b.Max = b.Min
	}
	return b, nil
}

func cmdTenderPublish(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "tender publish", "tender publish --title T --description D --deadline RFC3339 [flags]")
	f := addTenderFlags(fs)
	asJSON := fs.Bool("json", false, "print the tender as JSON (the URL is still the last line)")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	currency := tender.NormalizeCurrency(*f.currency)
	if currency != "" && !tender.ValidCurrency(currency) {
		return tender.FieldErrorf("currency", "%q is not an ISO 4217 currency code", *f.currency)
	}
	if currency != "" && *f.budgetMin == "" && *f.budgetMax == "" && !lotHasBudget(f.lots) {
		return tender.FieldErrorf("currency", "given without --budget-min/--budget-max or a lot budget: it would price nothing")
	}
	t := &tender.Tender{
		Title: *f.title, Description: *f.description, Categories: f.categories, Regions: f.regions, Languages: f.languages,
		Parent: *f.parent, Eligibility: *f.eligibility,
	}
	if *f.deadline == "" {
		return tender.FieldErrorf("deadline", "required (RFC 3339, e.g. 2027-01-31T17:00:00Z)")
	}
	var err error
	if t.Deadline, err = parseRFC3339("deadline", *f.deadline); err != nil {
		return err
	}
	if *f.deliveryStart != "" {
		if t.DeliveryStart, err = parseRFC3339("delivery-start", *f.deliveryStart); err != nil {
			return err
		}
	}
	if *f.deliveryEnd != "" {
		if t.DeliveryEnd, err = parseRFC3339("delivery-end", *f.deliveryEnd); err != nil {
			return err
		}
	}
	if t.Budget, err = f.budget(currency); err != nil {
		return err
	}
	for _, s := range f.lots {
		l, err := parseLot(s, currency)
		if err != nil {
			return err
		}
		t.Lots = append(t.Lots, l)
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		a, err := actingActor(ctx, n, *f.as)
		if err != nil {
			return err
		}
		t, err = n.Tendering.Publish(ctx, a, t)
		if err != nil {
			return err
		}
		if *asJSON {
			j, err := tenderToJSON(ctx, n, t.ID, a)
			if err != nil {
				return err
			}
			if err := printJSON(env.stdout, j); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(env.stdout, "published %q (bids until %s)\n", t.Title, t.Deadline.Format(time.RFC3339))
			for _, l := range t.Lots {
				fmt.Fprintf(env.stdout, "lot %q: %s\n", l.Title, l.ID)
			}
		}
		fmt.Fprintln(env.stdout, t.ID)
		return nil
	})
}

func cmdTenderAmend(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "tender amend", "tender amend URL [publish flags]")
	f := addTenderFlags(fs)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		a, err := actingActor(ctx, n, *f.as)
		if err != nil {
			return err
		}
		rec, err := n.DB.Tender(ctx, pos[0])
		if err != nil {
			return err
		}
		cur := rec.Tender
		var p tender.Amendment
		if set["title"] {
			p.Title = f.title
		}
		if set["description"] {
			p.Description = f.description
		}
		if set["eligibility"] {
			p.Eligibility = f.eligibility
		}
		if set["parent"] {
			p.Parent = f.parent
		}
		if set["category"] {
			v := []string(f.categories)
			p.Categories = &v
		}
		if set["region"] {
			v := []string(f.regions)
			p.Regions = &v
		}
		if set["language"] {
			v := []string(f.languages)
			p.Languages = &v
		}
		for _, k := range []struct {
			name string
			dst  **time.Time
			val  string
		}{{"deadline", &p.Deadline, *f.deadline}, {"delivery-start", &p.DeliveryStart, *f.deliveryStart}, {"delivery-end", &p.DeliveryEnd, *f.deliveryEnd}} {
			if set[k.name] {
				t, err := parseRFC3339(k.name, k.val)
				if err != nil {
					return err
				}
				*k.dst = &t
			}
		}
		currency := tender.NormalizeCurrency(*f.currency)
		if currency == "" && cur.Budget != nil {
			currency = cur.Budget.Currency
		}
		if set["budget-min"] || set["budget-max"] || set["currency"] {
			if !set["budget-min"] && cur.Budget != nil && cur.Budget.Min > 0 {
				v := tender.FormatAmount(cur.Budget.Min, cur.Budget.Currency)
				f.budgetMin = &v
			}
			if !set["budget-max"] && cur.Budget != nil {
				v := tender.FormatAmount(cur.Budget.Max, cur.Budget.Currency)
				f.budgetMax = &v
			}
			b, err := f.budget(currency)
			if err != nil {
				return err
			}
			p.Budget = b
		}
		if set["lot"] {
			lots := append([]tender.Lot(nil), cur.Lots...)
			for _, s := range f.lots {
				l, err := parseLot(s, currency)
				if err != nil {
					return err
				}
				lots = append(lots, l)
			}
			p.Lots = &lots
		}
		t, err := n.Tendering.Amend(ctx, a, pos[0], p)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "amended %q; followers and bidders are told\n%s\n", t.Title, t.ID)
		return nil
	})
}

func cmdTenderCancel(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "tender cancel", "tender cancel URL --reason TEXT")
	reason := fs.String("reason", "", "why the tender is cancelled (required; public)")
	as := fs.String("as", "", "the local co-op acting")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return tender.FieldErrorf("reason", "required")
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		a, err := actingActor(ctx, n, *as)
		if err != nil {
			return err
		}
		t, err := n.Tendering.Cancel(ctx, a, pos[0], *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "cancelled %q\n%s\n", t.Title, t.ID)
		return nil
	})
}

// lotHasBudget reports whether any --lot value carries a budget.
func lotHasBudget(lots []string) bool {
	for _, l := range lots {
		if parts := strings.Split(l, "|"); len(parts) > 2 && strings.TrimSpace(parts[2]) != "" {
			return true
		}
	}
	return false
}
