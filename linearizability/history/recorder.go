package history

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Recorder collects a run's history from many goroutines. Each goroutine
// drives its own Client, which is sequential; the Recorder's methods are
// safe for concurrent use.
type Recorder struct {
	base time.Time // carries Go's monotonic reading: Since(base) is monotonic

	mu         sync.Mutex
	nextClient ClientID
	nextOp     int
	ops        []Op
	pending    map[int]Op // invoked, not completed, as invoked: Unknown if the run ends first
	faults     []Fault
	claims     []LeaderClaim
}

// NewRecorder returns a recorder whose time base is now.
func NewRecorder() *Recorder {
	return &Recorder{base: time.Now(), pending: map[int]Op{}}
}

// Base returns the wall-clock time of Time 0.
func (r *Recorder) Base() time.Time { return r.base }

// Now returns the current Time. Monotonic: time.Since uses the monotonic
// reading of base, never the wall clock.
func (r *Recorder) Now() Time { return Time(time.Since(r.base)) }

// NewClient returns a sequential client for the harness goroutine worker.
func (r *Recorder) NewClient(worker int) *Client {
	return &Client{r: r, worker: worker, id: r.newClientID()}
}

func (r *Recorder) newClientID() ClientID {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.nextClient
	r.nextClient++
	return id
}

// StartFault opens a fault window now and returns its id for EndFault.
func (r *Recorder) StartFault(kind FaultKind, target, detail string) int {
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	id := len(r.faults)
	r.faults = append(r.faults, Fault{ID: id, Kind: kind, Target: target, Start: now, End: Infinity, Detail: detail})
	return id
}

// EndFault closes the fault window id now (the fault is healed).
func (r *Recorder) EndFault(id int) {
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if id < 0 || id >= len(r.faults) || r.faults[id].End != Infinity {
		panic(fmt.Sprintf("history: EndFault(%d): no such open fault window", id))
	}
	r.faults[id].End = now
}

// Annotate appends to the detail of fault window id (what the fault did,
// known only once it ran).
func (r *Recorder) Annotate(id int, more string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id >= 0 && id < len(r.faults) {
		r.faults[id].Detail += "; " + more
	}
}

// AddLeaderClaim records that a broker said it became a leader.
func (r *Recorder) AddLeaderClaim(c LeaderClaim) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claims = append(r.claims, c)
}

// History returns a copy of everything recorded so far, operations in id
// (= call) order. Operations still in flight appear as Unknown, returning
// now: the run ended before they did.
func (r *Recorder) History() *History {
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	h := &History{
		Version:      FormatVersion,
		Start:        r.base,
		Ops:          slices.Clone(r.ops),
		Faults:       slices.Clone(r.faults),
		LeaderClaims: slices.Clone(r.claims),
	}
	for _, o := range r.pending {
		o.Return, o.Outcome, o.Err = max(now, o.Call), Unknown, "still in flight when the history was taken"
		h.Ops = append(h.Ops, o)
	}
	slices.SortFunc(h.Ops, func(a, b Op) int { return a.ID - b.ID })
	return h
}

// Client records the operations of one sequential client. It is not safe
// for concurrent use: one goroutine drives it, one operation at a time.
type Client struct {
	r      *Recorder
	worker int
	id     ClientID
	seq    uint64 // last sequence number handed out
	open   *Op    // the invoked operation, until Complete
}

// ID returns the client's current id (it changes after an Unknown outcome).
func (c *Client) ID() ClientID { return c.id }

// Worker returns the harness goroutine the client belongs to.
func (c *Client) Worker() int { return c.worker }

// NextValue returns a fresh, globally unique ValueID.
func (c *Client) NextValue() ValueID {
	c.seq++
	return NewValueID(c.id, c.seq)
}

// Invoke starts an operation: it stamps op with the client, worker, a new
// id and the call time, and returns the operation for the caller to fill
// in outputs before Complete. Call it just before sending the request.
// Invoking while another operation is open is a harness bug and panics:
// a client is sequential.
func (c *Client) Invoke(op Op) *Op {
	if c.open != nil {
		panic(fmt.Sprintf("history: client %d invokes %s while op %d is open", c.id, op.Kind, c.open.ID))
	}
	c.r.mu.Lock()
	op.ID = c.r.nextOp
	c.r.nextOp++
	op.Client, op.Worker = c.id, c.worker
	op.Call = c.r.Now() // under mu: ids and call times agree in order
	// A copy: the caller fills in outputs without the lock, and History
	// may read the pending entry meanwhile.
	c.r.pending[op.ID] = op
	c.r.mu.Unlock()
	o := &op
	c.open = o
	return o
}

// Complete ends the open operation op with err's outcome (Classify) and
// returns that outcome. Call it just after the answer is parsed, with the
// outputs filled in. After an Unknown outcome the client continues under a
// new id: the operation may still take effect later, so nothing this
// client does afterwards can be ordered after it.
func (c *Client) Complete(op *Op, err error) Outcome {
	out := Classify(err)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	c.CompleteAs(op, out, msg)
	return out
}

// CompleteAs ends the open operation op with an outcome the harness
// decided itself (for example Unknown when it stopped waiting).
func (c *Client) CompleteAs(op *Op, out Outcome, msg string) {
	if c.open != op {
		panic(fmt.Sprintf("history: client %d completes op %d, which is not its open operation", c.id, op.ID))
	}
	now := c.r.Now()
	op.Return, op.Outcome, op.Err = now, out, msg
	if out == Unknown && op.Kind == Produce {
		op.Offset = -1
	}
	c.r.mu.Lock()
	delete(c.r.pending, op.ID)
	c.r.ops = append(c.r.ops, *op)
	c.r.mu.Unlock()
	c.open = nil
	if out == Unknown {
		c.id = c.r.newClientID()
	}
}

// Event records an instantaneous event (Assign, Revoke, Seek) at the
// current time, with outcome OK.
func (c *Client) Event(op Op) {
	if !op.Kind.Event() {
		panic(fmt.Sprintf("history: Event(%s): not an event kind", op.Kind))
	}
	o := c.Invoke(op)
	o.Return = o.Call
	o.Outcome = OK
	c.r.mu.Lock()
	delete(c.r.pending, o.ID)
	c.r.ops = append(c.r.ops, *o)
	c.r.mu.Unlock()
	c.open = nil
}
