// Package syncstate names where a record stands with QuickBooks Online. It is a leaf package
// so the ent schema, billing and the QBO sync engine share one type.
package syncstate

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Status is a record's QuickBooks sync status.
type Status string

// The statuses.
const (
	NotSynced Status = "not_synced"
	Pending   Status = "pending"
	Synced    Status = "synced"
	Error     Status = "error"
)

var all = []Status{NotSynced, Pending, Synced, Error}

// Values lets ent store Status as an enum column.
func (Status) Values() []string {
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = string(s)
	}
	return out
}

func (s Status) String() string { return string(s) }

// MarshalGQL writes the GraphQL enum value.
func (s Status) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(s))) }

// UnmarshalGQL reads a GraphQL enum value.
func (s *Status) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok || !slices.Contains(all, Status(str)) {
		return fmt.Errorf("sync status must be one of %v", all)
	}
	*s = Status(str)
	return nil
}
