package qbotest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The legacy body the emulator builds for the recorded vector's two changes
// is byte-for-byte the recorded payload, so its signature is the recorded one.
func TestLegacyBodyMatchesVector(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "qbo", "webhook-vector.json"))
	require.NoError(t, err)
	var v struct{ VerifierToken, Payload, Signature string }
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	v.VerifierToken, v.Payload, v.Signature = m["verifier_token"].(string), m["payload"].(string), m["signature"].(string)

	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tm
	}
	w := &webhookSender{cfg: webhookConfig{legacy: true, token: v.VerifierToken}}
	body := w.body([]hookEvent{
		{c: Change{RealmID: "1269959970", Entity: "Vendor", ID: "40", Operation: "Update", At: at("2016-10-05T03:09:04Z")}},
		{c: Change{RealmID: "1269959970", Entity: "Customer", ID: "43", Operation: "Create", At: at("2016-10-05T03:07:04Z")}},
	})
	require.Equal(t, v.Payload, string(body))
	require.Equal(t, v.Signature, Sign(v.VerifierToken, body))
}
