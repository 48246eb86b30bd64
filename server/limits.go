package server

import (
	"context"
	"fmt"
	"strconv"
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
	// maxInputDepth caps how deep an argument value nests (objects and lists): a filter's
	// and/or/not, relations and value lists stay far within it.
	maxInputDepth = 32
	// trialBalanceCost is a trial balance's share of MaxComplexity (5,000 by default).
	trialBalanceCost = 500
)

// depthLimit refuses operations nested deeper than max (introspection excepted), a cheap
// guard against queries built to exhaust the server.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0, map[string]bool{}); depth > d.max {
		return codedError("DEPTH_LIMIT_EXCEEDED", fmt.Sprintf("operation is nested %d levels deep; the limit is %d", depth, d.max))
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, depth int, seen map[string]bool) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = selectionDepth(s.SelectionSet, depth+1, seen)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth, seen)
		case *ast.FragmentSpread:
			if seen[s.Name] || s.Definition == nil {
				continue
			}
			seen[s.Name] = true
			d = selectionDepth(s.Definition.SelectionSet, depth, seen)
			delete(seen, s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// inputLimit refuses an operation whose arguments, variables included, hold a list longer
// than maxList or nest deeper than maxDepth, before anything runs: a 20,000-id nodes(ids:)
// or a filter of 9,000 nested nots costs the server before it costs the caller. (The parser
// bounds the nesting of literals; JSON variables reach here unbounded.)
type inputLimit struct{ maxList, maxDepth int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = inputLimit{}

func (inputLimit) ExtensionName() string                   { return "InputLimit" }
func (inputLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (l inputLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	var msg string
	eachField(oc.Operation.SelectionSet, true, func(f *ast.Field) bool {
		for name, v := range f.ArgumentMap(oc.Variables) {
			if m := l.checkValue(v, 0); m != "" {
				msg = fmt.Sprintf("argument %s of %s: %s", name, f.Name, m)
				return false
			}
		}
		return true
	})
	if msg == "" {
		return nil
	}
	return codedError(apperr.Validation, msg)
}

// checkValue walks one argument value; the message says what is over the limit. It stops at
// the first breach, so its work is bounded by the limits, not by the input.
func (l inputLimit) checkValue(v any, depth int) string {
	if depth > l.maxDepth {
		return fmt.Sprintf("the value nests more than %d levels deep", l.maxDepth)
	}
	switch x := v.(type) {
	case []any:
		if len(x) > l.maxList {
			return fmt.Sprintf("a list has %d items; at most %d are allowed", len(x), l.maxList)
		}
		for _, e := range x {
			if msg := l.checkValue(e, depth+1); msg != "" {
				return msg
			}
		}
	case map[string]any:
		for _, e := range x {
			if msg := l.checkValue(e, depth+1); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// defaultPages writes the default page into the operation itself: every connection field
// asked for without first or last (or with both null) gets first: defaultPage before
// anything runs. entgql loads nested connections from the operation's own arguments, so a
// default applied later, to the resolver's arguments, left them unbounded; and the cost
// estimate now counts what will be loaded.
type defaultPages struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = defaultPages{}

func (defaultPages) ExtensionName() string                   { return "DefaultPages" }
func (defaultPages) Validate(graphql.ExecutableSchema) error { return nil }
func (defaultPages) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	eachField(oc.Operation.SelectionSet, true, func(f *ast.Field) bool {
		if d := f.Definition; d != nil && strings.HasSuffix(d.Type.Name(), "Connection") &&
			d.Arguments.ForName("first") != nil && pageArgAbsent(f, "first", oc.Variables) && pageArgAbsent(f, "last", oc.Variables) {
			args := make(ast.ArgumentList, 0, len(f.Arguments)+1)
			for _, a := range f.Arguments {
				if a.Name != "first" {
					args = append(args, a)
				}
			}
			f.Arguments = append(args, &ast.Argument{Name: "first", Position: f.Position,
				Value: &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(defaultPage), Position: f.Position}})
		}
		return true
	})
	return nil
}

// pageArgAbsent reports whether the field's argument name is missing or null.
func pageArgAbsent(f *ast.Field, name string, vars map[string]any) bool {
	a := f.Arguments.ForName(name)
	if a == nil {
		return true
	}
	v, err := a.Value.Value(vars)
	return err == nil && v == nil
}

// eachField calls fn on the fields of set, looking through inline fragments and fragment
// spreads (each fragment once), and, when deep, on the fields below them. It stops as soon as
// fn returns false, and reports whether it went through to the end.
func eachField(set ast.SelectionSet, deep bool, fn func(*ast.Field) bool) bool {
	return walkFields(set, deep, map[string]bool{}, fn)
}

func walkFields(set ast.SelectionSet, deep bool, seen map[string]bool, fn func(*ast.Field) bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if !fn(s) || (deep && !walkFields(s.SelectionSet, deep, seen, fn)) {
				return false
			}
		case *ast.InlineFragment:
			if !walkFields(s.SelectionSet, deep, seen, fn) {
				return false
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if !walkFields(s.Definition.SelectionSet, deep, seen, fn) {
				return false
			}
		}
	}
	return true
}
