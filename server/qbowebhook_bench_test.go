package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/dbtest"
	"books/internal/tenant"
)

// BenchmarkQBOWebhookIntake measures POST /webhooks/qbo over real HTTP on each database:
// every op is one signed single-event CloudEvents delivery with a fresh id, for the
// connected realm (so every store enqueues the connection's inbox job, the costly path),
// answered 200 once stored. The benchmark checks that the inbox holds every delivery once.
//
//   - paced_1000: deliveries are scheduled at 1,000 a second (Intuit's side of the target)
//     from up to 64 connections; latency is measured from each delivery's scheduled time,
//     so a server falling behind shows in it (no coordinated omission). ns/op is then the
//     pacing (1 ms) unless the server cannot keep up.
//   - unpaced: 16 senders post back to back, for the most the intake accepts.
//
// Custom metrics: notifications/s accepted, and p50_ms / p99_ms / max_ms of the answers.
//
//	go test ./server/ -run '^$' -bench BenchmarkQBOWebhookIntake -benchtime 5000x -count 3
func BenchmarkQBOWebhookIntake(b *testing.B) {
	for _, d := range dbtest.Dialects(b) {
		b.Run(d+"/paced_1000", func(b *testing.B) { benchWebhook(b, d, 1000, 64) })
		b.Run(d+"/unpaced", func(b *testing.B) { benchWebhook(b, d, 0, 16) })
	}
}

// benchWebhook delivers b.N notifications with senders goroutines, at rate a second (0: as
// fast as they go).
func benchWebhook(b *testing.B, dialectName string, rate float64, senders int) {
	benchWebhookOn(b, setupHook(b, dialectName, nil), rate, senders)
}

func benchWebhookOn(b *testing.B, f *hookFix, rate float64, senders int) {
	// The pool as `books serve` opens it (internal/database): dbtest keeps two idle
	// PostgreSQL connections for tests running side by side, which would make most
	// deliveries here open a new connection.
	f.db.SQL.SetMaxIdleConns(40)
	f.connect(b, hookRealm)
	var run [4]byte
	_, _ = rand.Read(run[:])
	bodies := make([]hookPost, b.N)
	for i := range bodies {
		body := hookCEBody(b, hookCE(hookRealm, fmt.Sprintf("bench-%x-%d", run, i), fmt.Sprint(1+i%5000)))
		bodies[i] = signed(body)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxIdleConns: senders}}
	defer client.CloseIdleConnections()
	url := f.server.URL + "/webhooks/qbo"
	send := func(p hookPost) error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(p.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("intuit-signature", p.sig)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm the connections and the server's first statements, untimed.
	for i := range senders {
		warm := hookCEBody(b, hookCE(hookRealm, fmt.Sprintf("warm-%x-%d", run, i), "1"))
		require.NoError(b, send(signed(warm)))
	}

	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failures atomic.Int64
	var firstErr sync.Once
	var errOut error
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				due := time.Now()
				if interval > 0 {
					due = start.Add(time.Duration(i) * interval)
					time.Sleep(time.Until(due))
				}
				if err := send(bodies[i]); err != nil {
					failures.Add(1)
					firstErr.Do(func() { errOut = err })
				}
				lat[i] = time.Since(due)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	require.Zero(b, failures.Load(), "failed deliveries; first: %v", errOut)
	n, err := f.client.QBOInboxEvent.Query().Count(tenant.System(context.Background()))
	require.NoError(b, err)
	require.Equal(b, b.N+senders, n, "every delivery stored once")

	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}
