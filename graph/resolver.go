// Package graph is the GraphQL API: hand-written *.graphqls schemas, thin resolvers that
// call domain packages, and the generated executor in graph/generated.
package graph

import (
	"books/ent"
	"books/internal/auth"
	"books/internal/billing"
)

// Resolver holds what resolvers share. Resolvers read the (transactional) ent client from
// the request context; Client is only the fallback outside a request.
type Resolver struct {
	Client *ent.Client
	Auth   *auth.Service

	zones billing.Zones
}
