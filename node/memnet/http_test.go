package memnet_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dynago/dynago/node/memnet"
)

func TestHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond})
		ln, err := nw.Host(ipB).Listen(ipB + ":8080")
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello from "+r.Host)
		})
		mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(w, r.Body)
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()

		tr := &http.Transport{DialContext: nw.Host(ipA).DialContext}
		cl := &http.Client{Transport: tr, Timeout: 2 * time.Second}
		get := func(url string) (string, error) {
			resp, err := cl.Get(url)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}

		if body, err := get("http://10.0.0.2:8080/hello"); err != nil || body != "hello from 10.0.0.2:8080" {
			t.Fatalf("GET = %q, %v", body, err)
		}
		big := bytes.Repeat([]byte("0123456789"), 200_000)
		resp, err := cl.Post("http://10.0.0.2:8080/echo", "application/octet-stream", bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("POST echo: %d bytes, %v", len(got), err)
		}

		// Across a partition the request times out at the client's
		// Timeout; after Heal requests succeed again.
		nw.Partition([]string{ipA}, []string{ipB})
		start := time.Now()
		if _, err := get("http://10.0.0.2:8080/hello"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("GET across the partition: %v", err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("GET gave up after %v", d)
		}
		nw.Heal()
		if _, err := get("http://10.0.0.2:8080/hello"); err != nil {
			t.Fatalf("GET after heal: %v", err)
		}

		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Fatalf("Serve: %v", err)
		}
	})
}
