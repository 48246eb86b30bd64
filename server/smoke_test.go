package server_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/caldate"
	"books/internal/dbtest"
)

func mustDate(s string) caldate.Date { return caldate.MustParse(s) }

func TestSetupSmoke(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			status, body := b.postJE(t, b.orgA.Key, "", jeBody("US", "time-1", "150.00"))
			require.Equal(t, 201, status, "%v", body)
			var data struct {
				LegalEntities struct{ TotalCount int } `json:"legalEntities"`
			}
			b.gqlOK(t, b.orgA.Admin, `{ legalEntities { totalCount } }`, nil, &data)
			require.Equal(t, 2, data.LegalEntities.TotalCount)
			b.requireLedgerBalanced(t, b.orgA)
		})
	}
}
