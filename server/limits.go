package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"books/internal/apperr"
)

// Limits on what one operation may ask for, beyond the complexity estimate.
const (
	// maxListArgument caps every list an operation passes as an argument, at any depth of an
	// input: ids, filter value lists, lines.
	maxListArgument = 1000
	// trialBalanceCost is a trial balance's share of MaxComplexity (5,000 by default).
	trialBalanceCost = 500
)

// listLimit refuses an operation passing a list longer than max anywhere in its arguments,
// before anything runs: a 20,000-id nodes(ids:) costs the server before it costs the caller.
type listLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = listLimit{}

func (listLimit) ExtensionName() string                   { return "ListLimit" }
func (listLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (l listLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if path, n := longestList(oc.Operation.SelectionSet, oc.Variables, l.max, map[string]bool{}); n > l.max {
		err := gqlerror.Errorf("the list at %s has %d items; at most %d are allowed", path, n, l.max)
		err.Extensions = map[string]any{"code": apperr.Validation}
		return err
	}
	return nil
}

// longestList finds an argument list longer than limit in set, and where.
func longestList(set ast.SelectionSet, vars map[string]any, limit int, seen map[string]bool) (string, int) {
	for _, sel := range set {
		var sub ast.SelectionSet
		switch s := sel.(type) {
		case *ast.Field:
			for name, v := range s.ArgumentMap(vars) {
				if path, n := listIn(s.Name+"("+name+")", v, limit); n > limit {
					return path, n
				}
			}
			sub = s.SelectionSet
		case *ast.InlineFragment:
			sub = s.SelectionSet
		case *ast.FragmentSpread:
			if seen[s.Name] || s.Definition == nil {
				continue
			}
			seen[s.Name] = true
			sub = s.Definition.SelectionSet
		}
		if path, n := longestList(sub, vars, limit, seen); n > limit {
			return path, n
		}
	}
	return "", 0
}

func listIn(path string, v any, limit int) (string, int) {
	switch x := v.(type) {
	case []any:
		if len(x) > limit {
			return path, len(x)
		}
		for _, e := range x {
			if p, n := listIn(path, e, limit); n > limit {
				return p, n
			}
		}
	case map[string]any:
		for k, e := range x {
			if p, n := listIn(strings.Join([]string{path, k}, "."), e, limit); n > limit {
				return p, n
			}
		}
	}
	return "", 0
}
