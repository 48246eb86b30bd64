// Package source names the systems that post to the ledger. It is a leaf package so the ent
// schema, the ledger and the HTTP API can share one type.
package source

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// System is a system that posts journal entries or owns COA mapping codes.
type System string

// The known source systems.
const (
	Books      System = "books"
	PSA        System = "psa"
	AMS        System = "ams"
	CHMS       System = "chms"
	Import     System = "import"
	Autotask   System = "autotask"
	Stripe     System = "stripe"
	HubBilling System = "hub_billing"
)

var all = []System{Books, PSA, AMS, CHMS, Import, Autotask, Stripe, HubBilling}

// All returns every known system.
func All() []System { return slices.Clone(all) }

// Values lets ent store System as an enum column.
func (System) Values() []string {
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = string(s)
	}
	return out
}

// Valid reports whether s is a known system.
func (s System) Valid() bool { return slices.Contains(all, s) }

// Parse returns the System named s.
func Parse(s string) (System, error) {
	if !System(s).Valid() {
		return "", fmt.Errorf("unknown source system %q (known: %v)", s, all)
	}
	return System(s), nil
}

func (s System) String() string { return string(s) }

// MarshalGQL writes the GraphQL enum value.
func (s System) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

// UnmarshalGQL reads a GraphQL enum value.
func (s *System) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("source system must be a string")
	}
	p, err := Parse(str)
	if err != nil {
		return err
	}
	*s = p
	return nil
}
