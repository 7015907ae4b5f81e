package webhooks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "64:ff9b::a00:1": false,
		"64:ff9b::808:808": true, "2002:c0a8:101::1": false, "255.255.255.255": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != public {
			t.Errorf("publicAddr(%s) = %v", addr, got)
		}
	}
}

func TestClientRefusesPrivateAtConnectAndNoRedirects(t *testing.T) {
	t.Parallel()
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	_, err := newClient(false, time.Second).Get(srv.URL)
	if !errors.Is(err, ErrPrivateTarget) || hits != 0 {
		t.Fatalf("guarded client: %v (hits %d)", err, hits)
	}
	resp, err := newClient(true, time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits != 1 {
		t.Fatalf("redirect followed: %d, hits %d", resp.StatusCode, hits)
	}
}

func TestVerifyTolerance(t *testing.T) {
	t.Parallel()
	body := signBody("s3cret-key", []byte(`{"event":"task.completed","timestamp":"2025-09-26T10:00:00Z","data":{}}`))
	h := http.Header{}
	at := time.Unix(1_750_000_000, 0)
	signHeaders(h, "s3cret-key", "msg_1", at, body)
	if err := VerifyAt("s3cret-key", h, body, at.Add(4*time.Minute), DefaultTolerance); err != nil {
		t.Fatal(err)
	}
	if err := VerifyAt("s3cret-key", h, body, at.Add(6*time.Minute), DefaultTolerance); !errors.Is(err, ErrTimestamp) {
		t.Fatalf("stale: %v", err)
	}
	h.Del(HeaderID)
	if err := VerifyAt("s3cret-key", h, body, at, DefaultTolerance); !errors.Is(err, ErrMissingHeaders) {
		t.Fatalf("missing id: %v", err)
	}
}
