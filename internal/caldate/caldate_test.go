package caldate_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/caldate"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "2026-13-01", "2026-02-30", "21/11/2026", "2026-11-21T00:00:00Z", "20261121"} {
		_, err := caldate.Parse(bad)
		require.ErrorIs(t, err, caldate.ErrInvalid, bad)
	}
	d := caldate.MustParse("2026-02-14")
	require.Equal(t, "2026-02-01", d.FirstOfMonth().String())
	require.Equal(t, "2026-02-28", d.LastOfMonth().String())
	require.Equal(t, "2028-02-29", caldate.MustParse("2028-02-10").LastOfMonth().String())
	require.Equal(t, "2026-03-01", d.LastOfMonth().AddDays(1).String())
}

func TestOfUsesTheZone(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	instant := time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)
	require.Equal(t, "2026-11-20", caldate.Of(instant, ny).String(), "3am UTC is still the 20th in New York")
	require.Equal(t, "2026-11-21", caldate.Of(instant, time.UTC).String())
}

func TestEncoding(t *testing.T) {
	t.Parallel()
	d := caldate.MustParse("2026-11-21")
	b, err := json.Marshal(d)
	require.NoError(t, err)
	require.JSONEq(t, `"2026-11-21"`, string(b))
	var back caldate.Date
	require.NoError(t, json.Unmarshal(b, &back))
	require.True(t, back.Equal(d))
	require.Error(t, json.Unmarshal([]byte(`20261121`), &back))

	var scanned caldate.Date
	require.NoError(t, scanned.Scan(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)))
	require.True(t, scanned.Equal(d))
	require.NoError(t, scanned.Scan([]byte("2026-11-21")))
	require.True(t, scanned.Equal(d))
	require.Error(t, scanned.Scan(nil))
	v, err := d.Value()
	require.NoError(t, err)
	require.Equal(t, "2026-11-21", v)
}
