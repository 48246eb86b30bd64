// Package audit records who changed what, when, and through which interface. Records are
// written in the same transaction as the change they describe, so a rolled-back change
// leaves no record and a committed one always has one.
package audit

import (
	"context"
	"time"

	"books/ent"
	"books/ent/auditevent"
	"books/internal/auth"
)

// Interfaces a change can arrive through.
const (
	ViaGraphQL = auditevent.ViaGraphql
	ViaAPI     = auditevent.ViaAPI
	ViaCLI     = auditevent.ViaCli
	ViaSystem  = auditevent.ViaSystem
)

type ctxKey struct{}

type origin struct {
	via       auditevent.Via
	requestID string
}

// WithOrigin returns ctx marked with the interface and request id of the change.
func WithOrigin(ctx context.Context, via auditevent.Via, requestID string) context.Context {
	return context.WithValue(ctx, ctxKey{}, origin{via: via, requestID: requestID})
}

// RequestID returns the request id recorded by WithOrigin.
func RequestID(ctx context.Context) string {
	o, _ := ctx.Value(ctxKey{}).(origin)
	return o.requestID
}

// Record writes an audit event for action on subjectID, attributed to the principal in ctx.
func Record(ctx context.Context, c *ent.Client, action, subjectID, detail string) error {
	o, ok := ctx.Value(ctxKey{}).(origin)
	if !ok {
		o.via = ViaSystem
	}
	actor, actorType := "system", auditevent.ActorTypeSystem
	if p := auth.FromContext(ctx); p != nil {
		actor = p.Subject
		switch p.Kind {
		case auth.KindIntegrationKey:
			actorType = auditevent.ActorTypeIntegrationKey
		case auth.KindUser, auth.KindPortal:
			actorType = auditevent.ActorTypeUser
		}
	}
	if len(detail) > 8000 {
		detail = detail[:8000]
	}
	return c.AuditEvent.Create().
		SetAt(time.Now().UTC()).
		SetActor(actor).
		SetActorType(actorType).
		SetVia(o.via).
		SetAction(action).
		SetSubjectID(subjectID).
		SetRequestID(o.requestID).
		SetDetail(detail).
		Exec(ctx)
}

// Who returns the actor and interface of ctx, as Record would attribute them.
func Who(ctx context.Context) (actor string, via auditevent.Via) {
	o, ok := ctx.Value(ctxKey{}).(origin)
	if !ok {
		o.via = ViaSystem
	}
	actor = "system"
	if p := auth.FromContext(ctx); p != nil {
		actor = p.Subject
	}
	return actor, o.via
}
