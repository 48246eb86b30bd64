package qbotest_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"books/internal/qbo/qbotest"
)

// BenchmarkReads measures simple reads (GET /customer/{id}) from concurrent
// clients over real HTTP on loopback, with throttling off (WithoutLimits;
// otherwise QBO's 500 requests/minute per realm would be measured). Each
// client keeps its connection alive (as QBO clients do). Reported: reads/s.
//
//	go test -run '^$' -bench BenchmarkReads -benchtime 20000x -count 3 ./internal/qbo/qbotest/
func BenchmarkReads(b *testing.B) {
	const clients = 8
	srv := qbotest.NewServer(b, qbotest.WithoutLimits())
	realm := srv.RealmIDs()[0]
	token := srv.IssueTokens(realm).AccessToken
	url := srv.URL + "/v3/company/" + realm + "/customer/"

	// A few customers to read, created through the API.
	var ids []string
	for _, name := range []string{"Bench One", "Bench Two", "Bench Three", "Bench Four"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3/company/"+realm+"/customer",
			strings.NewReader(`{"DisplayName":"`+name+`","PrimaryEmailAddr":{"Address":"ap@example.com"},"BillAddr":{"Line1":"1 Main St","City":"Springfield"}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("create: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	for _, c := range srv.Realm(realm).Customers() {
		ids = append(ids, c["Id"].(string))
	}

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute},
		Timeout:   10 * time.Second,
	}
	read := func(id string, buf *bytes.Buffer) {
		req, _ := http.NewRequest(http.MethodGet, url+id+"?minorversion=75", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		buf.Reset()
		_, _ = io.Copy(buf, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(`"Customer"`)) {
			b.Errorf("read %s: %d %s", id, resp.StatusCode, buf.Bytes())
		}
	}
	// Warm up the connections.
	var warm bytes.Buffer
	for i := 0; i < clients*4; i++ {
		read(ids[i%len(ids)], &warm)
	}

	b.SetParallelism((clients + 1) / 2) // RunParallel starts parallelism × GOMAXPROCS goroutines
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		i := 0
		for pb.Next() {
			read(ids[i%len(ids)], &buf)
			i++
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reads/s")
}
