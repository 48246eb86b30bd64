package jobs

import (
	"encoding/json"
	"sort"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Args is what every job kind's arguments implement: River's Kind, and the idempotency key
// the worker sends with its external call, derived from our own ids (see the package doc).
type Args interface {
	river.JobArgs
	IdempotencyKey() string
}

// Tenant names the organization (and, where it matters, the legal entity) a job acts for.
// Every kind's args embed it. The keys are the admin queue's (internal/adminq): a failure is
// raised in that organization.
type Tenant struct {
	OrganizationID string `json:"organization_id"`
	EntityID       string `json:"entity_id,omitempty"`
}

// Subject names the object a job works on; args embed it so that failures of one kind on
// one object with one error code are one admin issue.
type Subject struct {
	SubjectType string `json:"subject_type,omitempty"` // e.g. "invoice"
	SubjectID   string `json:"subject_id,omitempty"`   // e.g. "inv_01…"
}

// TenantOf reads the Tenant embedded in a job's args; it is zero when the args carry none.
func TenantOf(job *rivertype.JobRow) Tenant {
	var t Tenant
	_ = json.Unmarshal(job.EncodedArgs, &t)
	return t
}

// Kinds is the set of job kinds a Runner works. Build it with NewKinds and Register.
type Kinds struct {
	workers *river.Workers
	names   []string
	opts    map[string]river.InsertOpts // each kind's own InsertOpts, for Runner.Enqueue
}

// NewKinds returns an empty set of kinds.
func NewKinds() *Kinds {
	return &Kinds{workers: river.NewWorkers(), opts: map[string]river.InsertOpts{}}
}

// Register adds worker as the worker of its args' kind. It panics when the kind is
// registered twice, which is a programming error.
func Register[T Args](k *Kinds, worker river.Worker[T]) {
	river.AddWorker(k.workers, worker)
	var args T
	k.names = append(k.names, args.Kind())
	var opts river.InsertOpts
	if wo, ok := any(args).(river.JobArgsWithInsertOpts); ok {
		opts = wo.InsertOpts()
	}
	k.opts[args.Kind()] = opts
}

// Names returns the registered kinds, sorted.
func (k *Kinds) Names() []string {
	if k == nil {
		return nil
	}
	out := append([]string(nil), k.names...)
	sort.Strings(out)
	return out
}

// Periodic is a job River inserts on a fixed interval, on the elected leader only. The job
// is unique per interval (UniqueOpts.ByPeriod = Every), so a new leader elected inside the
// interval does not insert it again.
type Periodic struct {
	// Every is the interval.
	Every time.Duration
	// Args builds the job's arguments each time it is due.
	Args func() Args
	// RunOnStart inserts one when a leader starts, instead of waiting a whole interval.
	RunOnStart bool
}

func (p Periodic) river() *river.PeriodicJob {
	every := p.Every
	build := p.Args
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		args := build()
		var opts river.InsertOpts
		if wo, ok := args.(river.JobArgsWithInsertOpts); ok {
			opts = wo.InsertOpts()
		}
		opts.UniqueOpts.ByPeriod = every
		return args, &opts
	}, &river.PeriodicJobOpts{RunOnStart: p.RunOnStart})
}
