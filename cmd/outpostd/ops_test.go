package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/logtest"
)

func TestRun_HelpAndUsageErrors(t *testing.T) {
	var out logtest.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v, want flag.ErrHelp (exit 0)", err)
	}
	if !strings.Contains(out.String(), "Usage: outpostd") || !strings.Contains(out.String(), "-tls-cert") {
		t.Errorf("--help printed:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"--nope"}, {"extra"}, {"--retention", "forever"}, {"--log-level", "loud"},
		{"--tls-cert", "c.pem"}, {"--allowed-origins", "app.example.com"},
	} {
		var out logtest.Buffer
		err := run(context.Background(), args, &out, nil)
		var uerr usageError
		if !errors.As(err, &uerr) {
			t.Errorf("run(%v) = %v, want a usage error (exit 2)", args, err)
		}
		if !strings.Contains(out.String(), "Usage: outpostd") {
			t.Errorf("run(%v) did not print the usage:\n%s", args, out.String())
		}
	}
}

func TestRun_MissingFolder(t *testing.T) {
	var out logtest.Buffer
	db := filepath.Join(t.TempDir(), "nope", "server.db")
	err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--db", db}, &out, nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist: create it first") {
		t.Fatalf("got %v", err)
	}
}

// TestRun_TLSMetricsAndLogLevel serves HTTPS with a self-signed
// certificate, scrapes /metrics and /readyz over it, and logs requests
// at --log-level info.
func TestRun_TLSMetricsAndLogLevel(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs logtest.Buffer
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "s.db"),
			"--tls-cert", certFile, "--tls-key", keyFile, "--log-level", "info"}, &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready in 10s")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	// /readyz first: /metrics then counts it.
	for _, tt := range []struct{ path, want string }{{"/readyz", `"ready"`}, {"/metrics", `outpost_http_requests_total{code="200",route="GET /readyz"} 1`}} {
		path, want := tt.path, tt.want
		resp, err := c.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, no %q", path, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "route=\"GET /readyz\"") || !strings.Contains(logs.String(), "https://") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "outpostd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
