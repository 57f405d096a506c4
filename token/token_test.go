package token_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/outpostsync/outpost/token"
)

func TestIssueVerify(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tok, err := token.IssueAt(secret, "alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if user, err := token.Verify(secret, tok, now.Add(time.Minute)); err != nil || user != "alice" {
		t.Fatalf("Verify = %q, %v; want alice", user, err)
	}
	if _, err := token.Verify(secret, tok, now.Add(2*time.Hour)); !errors.Is(err, token.ErrExpired) {
		t.Errorf("expired token: %v, want ErrExpired", err)
	}
	if _, err := token.Verify([]byte("other"), tok, now); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("wrong key: %v, want ErrInvalid", err)
	}
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + parts[1] + "x." + parts[2]
	if _, err := token.Verify(secret, forged, now); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("forged token: %v, want ErrInvalid", err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"user_id": "alice"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := token.Verify(secret, none, now); !errors.Is(err, token.ErrInvalid) {
		t.Errorf("alg none: %v, want ErrInvalid", err)
	}
	for _, bad := range []string{"", "garbage", "a.b.c"} {
		if _, err := token.Verify(secret, bad, now); !errors.Is(err, token.ErrInvalid) {
			t.Errorf("Verify(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := token.Issue(nil, "alice", time.Hour); !errors.Is(err, token.ErrNoSecret) {
		t.Errorf("Issue with no secret: %v", err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	sign := func(c jwt.MapClaims) string {
		t.Helper()
		c["user_id"] = "alice"
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		leeway time.Duration
		want   error
	}{
		{"exp just past, in leeway", jwt.MapClaims{"exp": at(-3 * time.Second)}, 5 * time.Second, nil},
		{"exp past leeway", jwt.MapClaims{"exp": at(-6 * time.Second)}, 5 * time.Second, token.ErrExpired},
		{"exp just past, no leeway", jwt.MapClaims{"exp": at(-time.Second)}, 0, token.ErrExpired},
		{"exp past, bigger leeway", jwt.MapClaims{"exp": at(-time.Minute)}, 2 * time.Minute, nil},
		{"nbf in the future", jwt.MapClaims{"nbf": at(time.Minute)}, 5 * time.Second, token.ErrInvalid},
		{"nbf in leeway", jwt.MapClaims{"nbf": at(3 * time.Second)}, 5 * time.Second, nil},
		{"iat in the future", jwt.MapClaims{"iat": at(time.Minute)}, 5 * time.Second, token.ErrInvalid},
		{"iat in leeway", jwt.MapClaims{"iat": at(3 * time.Second)}, 5 * time.Second, nil},
		{"iat past", jwt.MapClaims{"iat": at(-time.Hour)}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := token.VerifyLeeway(secret, sign(tc.claims), now, tc.leeway)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("VerifyLeeway = %v, want %v", err, tc.want)
			}
		})
	}
}
