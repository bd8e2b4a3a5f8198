package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/coopnet/coopnet/actors"
	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
)

const actorHelp = `Usage: coopnet actor SUBCOMMAND

  create USERNAME [--name N] [--summary S] [--region R]... [--category C]... [--language L]... [--manual-approval] [--icon URL]
  list [--json]
  show USERNAME [--json]
  update USERNAME [same flags as create]   sends Update to followers
  delete USERNAME                          sends Delete; the actor URL answers 410 from then on
`

func cmdActor(ctx context.Context, env *cliEnv, args []string) error {
	return subcommands(ctx, env, "actor", actorHelp, map[string]func(context.Context, *cliEnv, []string) error{
		"create": cmdActorCreate, "list": cmdActorList, "update": cmdActorUpdate, "delete": cmdActorDelete, "show": cmdActorShow,
	}, args)
}

// profileFlags are the flags create and update share.
type profileFlags struct {
	name, summary, icon            *string
	regions, categories, languages stringList
	manual                         *bool
}

func addProfileFlags(fs *flag.FlagSet) *profileFlags {
	p := &profileFlags{
		name:    fs.String("name", "", "display name (default: the username)"),
		summary: fs.String("summary", "", "a few lines about the co-op"),
		icon:    fs.String("icon", "", "URL of an avatar image"),
		manual:  fs.Bool("manual-approval", false, "hold follow requests for approval (manuallyApprovesFollowers)"),
	}
	fs.Var(&p.regions, "region", "a region served (repeatable)")
	fs.Var(&p.categories, "category", "a category of work (repeatable)")
	fs.Var(&p.languages, "language", "a language, human or programming (repeatable)")
	return p
}

// actorJSON is the --json shape of an actor: username, id, handle and name
// are a public contract.
type actorJSON struct {
	Username       string   `json:"username"`
	ID             string   `json:"id"`
	Handle         string   `json:"handle"`
	Name           string   `json:"name"`
	Summary        string   `json:"summary"`
	Regions        []string `json:"regions"`
	Categories     []string `json:"categories"`
	Languages      []string `json:"languages"`
	ManualApproval bool     `json:"manual_approval"`
	Icon           string   `json:"icon,omitempty"`
	Published      string   `json:"published"`
}

func toActorJSON(n *node.Node, a *storage.LocalActor) actorJSON {
	nz := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	return actorJSON{
		Username: a.Username, ID: n.Actors.ActorURL(a.Username), Handle: n.Actors.Handle(a.Username), Name: a.Name,
		Summary: a.Summary, Regions: nz(a.Regions), Categories: nz(a.Categories), Languages: nz(a.Languages),
		ManualApproval: a.ManualApproval, Icon: a.Icon, Published: a.Published.Format("2006-01-02T15:04:05Z07:00"),
	}
}

func cmdActorCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "actor create", "actor create USERNAME [flags]")
	p := addProfileFlags(fs)
	asJSON := fs.Bool("json", false, "print the new actor as JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		a, err := n.Actors.Create(ctx, pos[0], actors.Profile{
			Name: *p.name, Summary: *p.summary, Icon: *p.icon, ManualApproval: *p.manual,
			Regions: p.regions, Categories: p.categories, Languages: p.languages,
		})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.stdout, toActorJSON(n, a))
		}
		fmt.Fprintf(env.stdout, "created @%s\n%s\n", n.Actors.Handle(a.Username), n.Actors.ActorURL(a.Username))
		return nil
	})
}

func cmdActorList(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "actor list", "actor list [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		list, err := n.DB.LocalActors(ctx)
		if err != nil {
			return err
		}
		out := []actorJSON{}
		for _, a := range list {
			out = append(out, toActorJSON(n, a))
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		var rows [][]string
		for _, a := range out {
			rows = append(rows, []string{a.Username, "@" + a.Handle, a.Name, a.ID})
		}
		printTable(env.stdout, []string{"USERNAME", "HANDLE", "NAME", "ID"}, rows)
		return nil
	})
}

func cmdActorShow(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "actor show", "actor show USERNAME [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		a, err := n.Actors.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		j := toActorJSON(n, a)
		if *asJSON {
			return printJSON(env.stdout, j)
		}
		fmt.Fprintf(env.stdout, "%s (@%s)\n%s\nregions: %s\ncategories: %s\nlanguages: %s\nmanual approval: %v\n%s\n",
			j.Name, j.Handle, j.Summary, strings.Join(j.Regions, ", "), strings.Join(j.Categories, ", "), strings.Join(j.Languages, ", "), j.ManualApproval, j.ID)
		return nil
	})
}

func cmdActorUpdate(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "actor update", "actor update USERNAME [flags]")
	p := addProfileFlags(fs)
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		a, err := n.Actors.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		prof := actors.Profile{Name: a.Name, Summary: a.Summary, Icon: a.Icon, ManualApproval: a.ManualApproval, Regions: a.Regions, Categories: a.Categories, Languages: a.Languages}
		if set["name"] {
			prof.Name = *p.name
		}
		if set["summary"] {
			prof.Summary = *p.summary
		}
		if set["icon"] {
			prof.Icon = *p.icon
		}
		if set["manual-approval"] {
			prof.ManualApproval = *p.manual
		}
		if set["region"] {
			prof.Regions = p.regions
		}
		if set["category"] {
			prof.Categories = p.categories
		}
		if set["language"] {
			prof.Languages = p.languages
		}
		if err := n.Actors.ApplyProfile(a, prof); err != nil {
			return err
		}
		if err := n.Outbox.UpdateActor(ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "updated @%s\n%s\n", n.Actors.Handle(a.Username), n.Actors.ActorURL(a.Username))
		return nil
	})
}

func cmdActorDelete(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "actor delete", "actor delete USERNAME")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		a, err := n.Actors.Get(ctx, pos[0])
		if err != nil {
			return err
		}
		if err := n.Outbox.DeleteActor(ctx, a); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "deleted @%s\n", n.Actors.Handle(a.Username))
		return nil
	})
}
