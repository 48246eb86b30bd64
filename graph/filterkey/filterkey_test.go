package filterkey_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"books/graph/filterkey"
)

func TestParse(t *testing.T) {
	t.Parallel()
	fields := map[string]bool{"total": true, "status": true, "customer": true, "lines": true, "statusIn": false}
	isField := func(n string) bool { return fields[n] }
	tests := []struct {
		key  string
		want filterkey.Key
		ok   bool
	}{
		{"total", filterkey.Key{Field: "total"}, true},
		{"totalGTE", filterkey.Key{Field: "total", Meaning: "is greater than or equal to the given value"}, true},
		{"statusNotIn", filterkey.Key{Field: "status", Meaning: "is none of the given values"}, true},
		{"statusIn", filterkey.Key{Field: "status", Meaning: "is one of the given values"}, true},
		{"hasCustomer", filterkey.Key{Field: "customer", Edge: true}, true},
		{"hasLinesWith", filterkey.Key{Field: "lines", Edge: true, With: true}, true},
		{"hasJournalEntryWith", filterkey.Key{}, false},
		{"approvedBy", filterkey.Key{}, false},
		{"and", filterkey.Key{}, false},
		{"has", filterkey.Key{}, false},
		{"hasWith", filterkey.Key{}, false},
	}
	for _, tt := range tests {
		got, ok := filterkey.Parse(tt.key, isField)
		require.Equal(t, tt.ok, ok, tt.key)
		require.Equal(t, tt.want, got, tt.key)
	}
}
