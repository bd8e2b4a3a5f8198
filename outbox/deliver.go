package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/storage"
)

// Poster sends one signed POST; *federation.Client is the real one.
type Poster interface {
	Post(ctx context.Context, inbox string, body []byte, signer federation.Signer) (int, error)
}

// Deliverer runs the delivery workers of one node.
type Deliverer struct {
	Outbox      *Outbox
	Client      Poster
	Log         *slog.Logger
	Workers     int           // concurrent deliveries in all
	PerHost     int           // concurrent deliveries to one host
	GiveUpAfter time.Duration // how long a failing delivery is retried
	// Poll is how often the queue is read when nothing signalled: it picks
	// up retries that came due, and deliveries queued by another process
	// that could not Wake this one. 1 s if zero.
	Poll time.Duration
	// Rand returns a number in [0, 1) for jitter; tests fix it.
	Rand func() float64
	// Blocked, when set, reports hosts that get nothing (domain blocks,
	// allowlist): their deliveries fail at once instead of being retried.
	// It gets federation.Host(inbox).
	Blocked func(host string) bool

	wakeOnce   sync.Once
	wake       chan struct{}
	mu         sync.Mutex
	busy       map[int64]bool
	perHost    map[string]int
	recording  int                 // sends whose slot is free but whose outcome is not yet stored
	activities map[int64]*prepared // by activity row id, shared by the deliveries of a fan-out
	wg         sync.WaitGroup
}

// Run delivers until ctx is cancelled, then waits for sends in flight.
func (d *Deliverer) Run(ctx context.Context) {
	if d.Workers <= 0 {
		d.Workers = 16
	}
	if d.PerHost <= 0 {
		d.PerHost = 4
	}
	if d.GiveUpAfter <= 0 {
		d.GiveUpAfter = 72 * time.Hour
	}
	if d.Poll <= 0 {
		// Commands that queue deliveries wake Run (Wake); the poll finds
		// retries that came due, and is the fallback without a wake.
		d.Poll = time.Second
	}
	if d.Rand == nil {
		d.Rand = rand.Float64
	}
	d.busy = map[int64]bool{}
	d.perHost = map[string]int{}
	sem := make(chan struct{}, d.Workers)
	done := make(chan struct{}, 1)
	defer d.wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.Outbox.DB.DeliveriesQueued():
		case <-d.wakeCh():
		case <-done:
		}
		d.dispatch(ctx, sem, done)
		timer.Reset(d.Poll)
	}
}

// Wake makes Run read the queue now rather than at its next poll: another
// process (a command run while serve runs) queued deliveries.
func (d *Deliverer) Wake() {
	select {
	case d.wakeCh() <- struct{}{}:
	default:
	}
}

func (d *Deliverer) wakeCh() chan struct{} {
	d.wakeOnce.Do(func() { d.wake = make(chan struct{}, 1) })
	return d.wake
}

// dispatch starts sends for due deliveries while workers and hosts allow.
func (d *Deliverer) dispatch(ctx context.Context, sem chan struct{}, done chan struct{}) {
	d.mu.Lock()
	busy := make(map[int64]bool, len(d.busy))
	for k := range d.busy {
		busy[k] = true
	}
	d.mu.Unlock()
	due, err := d.Outbox.DB.DueDeliveries(ctx, d.Outbox.Now(), 4*d.Workers, busy)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Error("read delivery queue", "err", err)
		}
		return
	}
	for _, dl := range due {
		d.mu.Lock()
		if d.perHost[dl.Host] >= d.PerHost {
			d.mu.Unlock()
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			d.mu.Unlock()
			return
		}
		d.busy[dl.ID] = true
		d.perHost[dl.Host]++
		d.mu.Unlock()
		d.wg.Add(1)
		go func(dl *storage.Delivery) {
			defer d.wg.Done()
			released, early := false, false
			// release frees the worker and host slots once the POST is
			// answered, so the next send does not wait for this outcome's
			// commit (one fsync each, serialised on the one writer): that
			// wait, not signing, bounded a fan-out. The row stays busy
			// until its outcome is stored, so it is never sent twice, and
			// at most 4×Workers outcomes wait at a time.
			release := func(posted bool) {
				if released {
					return
				}
				d.mu.Lock()
				if posted {
					if d.recording >= 4*d.Workers {
						d.mu.Unlock()
						return
					}
					d.recording++
					early = true
				}
				released = true
				d.perHost[dl.Host]--
				if d.perHost[dl.Host] == 0 {
					delete(d.perHost, dl.Host)
				}
				d.mu.Unlock()
				<-sem
				select {
				case done <- struct{}{}:
				default:
				}
			}
			d.send(ctx, dl, func() { release(true) })
			release(false)
			d.mu.Lock()
			delete(d.busy, dl.ID)
			if early {
				d.recording--
			}
			d.mu.Unlock()
		}(dl)
	}
}

// send makes one attempt and records its outcome, calling posted between
// the two. The signature is made now, at send time, never when the
// delivery was queued: receivers refuse a Date more than about an hour old.
func (d *Deliverer) send(ctx context.Context, dl *storage.Delivery, posted func()) {
	if d.Blocked != nil && d.Blocked(federation.Host(dl.Inbox)) {
		// Retrying would only send it once the block is lifted, which
		// the operator did not ask for: give it up now, with the reason.
		if err := d.Outbox.DB.DeliveryFailed(ctx, dl.ID, 0, "blocked", time.Time{}); err != nil {
			d.Log.Error("record delivery", "inbox", dl.Inbox, "err", err)
		}
		d.Log.Info("delivery to a blocked host given up", "activity", dl.Activity, "inbox", dl.Inbox)
		return
	}
	p, err := d.prepared(ctx, dl)
	if err != nil {
		d.record(ctx, dl, 0, err)
		return
	}
	status, err := d.Client.Post(ctx, dl.Inbox, p.body, *p.signer)
	if ctx.Err() != nil {
		// Shutting down: the row stays pending and is sent after restart.
		return
	}
	posted()
	d.record(ctx, dl, status, err)
}

func (d *Deliverer) record(ctx context.Context, dl *storage.Delivery, status int, err error) {
	if err == nil && status >= 200 && status < 300 {
		if err := d.Outbox.DB.DeliveryDone(ctx, dl.ID, status); err != nil {
			d.Log.Error("record delivery", "inbox", dl.Inbox, "err", err)
		}
		d.Log.Debug("delivered", "activity", dl.Activity, "inbox", dl.Inbox, "status", status)
		return
	}
	msg := fmt.Sprintf("status %d", status)
	if err != nil {
		msg = err.Error()
		var se *federation.StatusError
		if errors.As(err, &se) {
			status = se.Code
		}
	}
	now := d.Outbox.Now()
	next := NextAttempt(status, dl.Attempts+1, now.Sub(dl.Created), d.GiveUpAfter, d.Rand())
	var nextAt time.Time
	if next > 0 {
		nextAt = now.Add(next)
	}
	if err := d.Outbox.DB.DeliveryFailed(ctx, dl.ID, status, msg, nextAt); err != nil {
		d.Log.Error("record delivery", "inbox", dl.Inbox, "err", err)
	}
	d.Log.Info("delivery failed", "activity", dl.Activity, "inbox", dl.Inbox, "status", status, "err", msg, "attempts", dl.Attempts+1, "retry_in", next)
}

// NextAttempt returns how long to wait before the next try, or 0 to give
// up. Permanent refusals (4xx other than 401, 408 and 429) end at once.
// During the first ten minutes the wait grows from 10 s but never exceeds
// 60 s, so a peer that restarts is caught up quickly; after that it grows
// with the delivery's age (half of it, at most 6 h) until giveUp has
// passed. jitter in [0, 1) spreads retries to one host over time.
func NextAttempt(status, attempts int, age, giveUp time.Duration, jitter float64) time.Duration {
	if status >= 400 && status < 500 && status != 401 && status != 408 && status != 429 {
		return 0
	}
	if age >= giveUp {
		return 0
	}
	factor := 0.8 + 0.2*jitter
	if age < 10*time.Minute {
		d := 10 * time.Second
		for i := 1; i < attempts && d < time.Minute; i++ {
			d *= 2
		}
		d = min(d, time.Minute)
		return time.Duration(float64(d) * factor)
	}
	d := min(max(age/2, time.Minute), 6*time.Hour)
	d = time.Duration(float64(d) * factor)
	if age+d > giveUp {
		// One last try at the deadline rather than none.
		d = max(giveUp-age, time.Second)
	}
	return d
}

// prepared is what every delivery of one activity shares: its body and
// its actor's signer.
type prepared struct {
	body   []byte
	signer *federation.Signer
}

// prepared returns the body and signer of a delivery's activity, from
// memory when a recent delivery of the same activity read them: a fan-out
// has a thousand rows for one activity, and reading the body and the
// actor's row for each cost more than the signatures.
func (d *Deliverer) prepared(ctx context.Context, dl *storage.Delivery) (*prepared, error) {
	d.mu.Lock()
	p, ok := d.activities[dl.ActivityID]
	d.mu.Unlock()
	if ok {
		return p, nil
	}
	a, err := d.Outbox.DB.LocalActor(ctx, dl.Actor)
	if err != nil {
		return nil, err
	}
	signer, err := d.Outbox.Actors.Signer(a)
	if err != nil {
		return nil, err
	}
	body, err := d.Outbox.DB.ActivityBody(ctx, dl.ActivityID)
	if err != nil {
		return nil, err
	}
	p = &prepared{body: body, signer: signer}
	d.mu.Lock()
	if d.activities == nil || len(d.activities) >= 64 {
		d.activities = map[int64]*prepared{}
	}
	d.activities[dl.ActivityID] = p
	d.mu.Unlock()
	return p, nil
}
