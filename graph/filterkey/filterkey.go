// Package filterkey reads the keys of the where inputs entgql generates: which field of the
// filtered type a key such as totalGTE or hasCustomerWith is about, and with which operator.
// The schema generator describes the keys with it and the portal's filter rule checks them
// with it, so both read entgql's naming the same way.
package filterkey

import "strings"

// Operators are entgql's filter operators with what each means, longest first so that NotIn
// wins over In.
var Operators = []struct{ Suffix, Meaning string }{
	{"ContainsFold", "contains the given text, ignoring case"},
	{"EqualFold", "equals the given text, ignoring case"},
	{"HasPrefix", "starts with the given text"},
	{"HasSuffix", "ends with the given text"},
	{"Contains", "contains the given text"},
	{"NotNil", "is set"},
	{"IsNil", "is not set (null)"},
	{"NotIn", "is none of the given values"},
	{"NEQ", "differs from the given value"},
	{"GTE", "is greater than or equal to the given value"},
	{"LTE", "is less than or equal to the given value"},
	{"GT", "is greater than the given value"},
	{"LT", "is less than the given value"},
	{"In", "is one of the given values"},
}

// Key is what one where-input key filters on.
type Key struct {
	// Field is the field of the filtered type, an edge's name for Edge keys.
	Field string
	// Edge is set for hasXxx (the record has a related xxx) and hasXxxWith (one matching
	// the nested filters, With set).
	Edge, With bool
	// Meaning is the operator's meaning; empty for equality and for edges.
	Meaning string
}

// Parse returns what key filters on, given which names are fields of the filtered type; ok
// is false for a key that names no field (and, or and not among them).
func Parse(key string, isField func(string) bool) (k Key, ok bool) {
	if isField(key) {
		return Key{Field: key}, true
	}
	if edge, found := strings.CutPrefix(key, "has"); found && edge != "" {
		edge, with := strings.CutSuffix(edge, "With")
		if edge != "" {
			edge = strings.ToLower(edge[:1]) + edge[1:]
			if isField(edge) {
				return Key{Field: edge, Edge: true, With: with}, true
			}
		}
	}
	for _, op := range Operators {
		if base, found := strings.CutSuffix(key, op.Suffix); found && isField(base) {
			return Key{Field: base, Meaning: op.Meaning}, true
		}
	}
	return Key{}, false
}
