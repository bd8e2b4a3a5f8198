package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coopnet/coopnet/node"
	"github.com/coopnet/coopnet/storage"
)

// followJSON is the --json shape of followers/following/follow-requests:
// id, handle and state are a public contract.
type followJSON struct {
	ID      string `json:"id"`
	Handle  string `json:"handle"`
	State   string `json:"state"`
	Inbox   string `json:"inbox,omitempty"`
	Created string `json:"created"`
}

// withLocal opens the node and loads the local actor named by username.
func withLocal(ctx context.Context, env *cliEnv, cfg, username string, fn func(*node.Node, *storage.LocalActor) error) error {
	return withNode(ctx, env, cfg, func(n *node.Node) error {
		a, err := n.Actors.Get(ctx, username)
		if err != nil {
			return err
		}
		return fn(n, a)
	})
}

func cmdFollow(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "follow", "follow LOCAL @user@host|ACTOR_URL")
	pos, err := parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	return withLocal(ctx, env, *cfg, pos[0], func(n *node.Node, a *storage.LocalActor) error {
		remote, err := n.Actors.Lookup(ctx, pos[1])
		if err != nil {
			return err
		}
		f, err := n.Outbox.Follow(ctx, a, remote)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s -> @%s: %s\n%s\n", a.Username, remote.Handle(), f.State, remote.IRI)
		return nil
	})
}

func cmdUnfollow(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "unfollow", "unfollow LOCAL @user@host|ACTOR_URL")
	pos, err := parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	return withLocal(ctx, env, *cfg, pos[0], func(n *node.Node, a *storage.LocalActor) error {
		remote, err := findKnownRemote(ctx, n, a, pos[1], storage.DirFollowing)
		if err != nil {
			return err
		}
		if err := n.Outbox.Unfollow(ctx, a, remote); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s no longer follows @%s\n", a.Username, remote.Handle())
		return nil
	})
}

// findKnownRemote finds a remote actor among an actor's relations by
// handle or URL without a network lookup, falling back to one.
func findKnownRemote(ctx context.Context, n *node.Node, a *storage.LocalActor, who, direction string) (*storage.RemoteActor, error) {
	fs, err := n.DB.Follows(ctx, a.ID, direction, "", 0, 0)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if f.Remote == who || f.Handle == who || "@"+f.Handle == who {
			return n.DB.RemoteActor(ctx, f.Remote)
		}
	}
	return n.Actors.Lookup(ctx, who)
}

func listFollows(ctx context.Context, env *cliEnv, name, direction, state string, args []string) error {
	fs, cfg := flagSet(env, name, name+" LOCAL [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return withLocal(ctx, env, *cfg, pos[0], func(n *node.Node, a *storage.LocalActor) error {
		list, err := n.DB.Follows(ctx, a.ID, direction, state, 0, 0)
		if err != nil {
			return err
		}
		out := []followJSON{}
		for _, f := range list {
			h := f.Handle
			if h == "" {
				h = f.Remote
			}
			out = append(out, followJSON{ID: f.Remote, Handle: h, State: f.State, Inbox: f.Inbox, Created: f.Created.Format(time.RFC3339)})
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		var rows [][]string
		for _, f := range out {
			rows = append(rows, []string{"@" + f.Handle, f.State, f.ID})
		}
		printTable(env.stdout, []string{"HANDLE", "STATE", "ID"}, rows)
		return nil
	})
}

func cmdFollowers(ctx context.Context, env *cliEnv, args []string) error {
	return listFollows(ctx, env, "followers", storage.DirFollower, "", args)
}

func cmdFollowing(ctx context.Context, env *cliEnv, args []string) error {
	return listFollows(ctx, env, "following", storage.DirFollowing, "", args)
}

func cmdFollowRequests(ctx context.Context, env *cliEnv, args []string) error {
	return listFollows(ctx, env, "follow-requests", storage.DirFollower, storage.StatePending, args)
}

func answerRequest(ctx context.Context, env *cliEnv, name string, args []string, approve bool) error {
	fs, cfg := flagSet(env, name, name+" LOCAL @user@host|ACTOR_URL")
	pos, err := parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	return withLocal(ctx, env, *cfg, pos[0], func(n *node.Node, a *storage.LocalActor) error {
		remote, err := findKnownRemote(ctx, n, a, pos[1], storage.DirFollower)
		if err != nil {
			return err
		}
		if approve {
			err = n.Outbox.ApproveFollower(ctx, a, remote)
		} else {
			err = n.Outbox.RejectFollower(ctx, a, remote)
		}
		if err != nil {
			return err
		}
		verb := "approved"
		if !approve {
			verb = "rejected"
		}
		fmt.Fprintf(env.stdout, "%s follow request from @%s\n", verb, remote.Handle())
		return nil
	})
}

func cmdApprove(ctx context.Context, env *cliEnv, args []string) error {
	return answerRequest(ctx, env, "approve", args, true)
}

func cmdReject(ctx context.Context, env *cliEnv, args []string) error {
	return answerRequest(ctx, env, "reject", args, false)
}

// deliveryJSON is the --json shape of deliveries.
type deliveryJSON struct {
	ID         int64  `json:"id"`
	Activity   string `json:"activity"`
	Actor      string `json:"actor"`
	Inbox      string `json:"inbox"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	LastStatus int    `json:"last_status"`
	LastError  string `json:"last_error"`
	NextTry    string `json:"next_try,omitempty"`
	Created    string `json:"created"`
	Updated    string `json:"updated"`
}

func cmdDeliveries(ctx context.Context, env *cliEnv, args []string) error {
	fs, cfg := flagSet(env, "deliveries", "deliveries [--json] [--limit N]")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 100, "show at most `N` deliveries")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	return withNode(ctx, env, *cfg, func(n *node.Node) error {
		list, err := n.DB.Deliveries(ctx, *limit)
		if err != nil {
			return err
		}
		out := []deliveryJSON{}
		for _, d := range list {
			j := deliveryJSON{ID: d.ID, Activity: d.Activity, Actor: d.Actor, Inbox: d.Inbox, State: d.State, Attempts: d.Attempts,
				LastStatus: d.LastStatus, LastError: d.LastError, Created: d.Created.Format(time.RFC3339), Updated: d.Updated.Format(time.RFC3339)}
			if d.State == storage.DeliveryPending {
				j.NextTry = d.NextTry.Format(time.RFC3339)
			}
			out = append(out, j)
		}
		if *asJSON {
			return printJSON(env.stdout, out)
		}
		var rows [][]string
		for _, d := range out {
			rows = append(rows, []string{d.State, strconv.Itoa(d.Attempts), d.Inbox, d.Activity, d.LastError})
		}
		printTable(env.stdout, []string{"STATE", "TRIES", "INBOX", "ACTIVITY", "LAST ERROR"}, rows)
		return nil
	})
}
