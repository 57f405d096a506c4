package client

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{" 30 ", 30 * time.Second},
		{"999999999", 24 * time.Hour}, // capped
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPathf(t *testing.T) {
	tests := []struct {
		pattern string
		values  []string
		want    string
	}{
		{"/channels/{cid}", []string{"messaging:general"}, "/channels/messaging:general"},
		{"/messages/{id}/reactions/{type}", []string{"m1", "like"}, "/messages/m1/reactions/like"},
		{"/channels/{cid}/members/{user_id}", []string{"a:b", "bob@x"}, "/channels/a:b/members/bob@x"},
		{"/messages/{id}", []string{"a/b"}, "/messages/a%2Fb"},
	}
	for _, tt := range tests {
		if got := pathf(tt.pattern, tt.values...); got != tt.want {
			t.Errorf("pathf(%q, %q) = %q, want %q", tt.pattern, tt.values, got, tt.want)
		}
	}
}

func TestBackoffNeverOverMax(t *testing.T) {
	cfg, _, err := Config{ServerURL: "http://x", UserID: "u", Token: "t",
		MinReconnectDelay: 100 * time.Millisecond, MaxReconnectDelay: time.Second}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b := newReconnectBackoff(cfg)
	for i := 0; i < 200; i++ {
		if d := b.next(); d <= 0 || d > time.Second {
			t.Fatalf("delay %d = %v, want in (0, 1s]", i, d)
		}
	}
	b.reset()
	if d := b.next(); d < 50*time.Millisecond || d > 150*time.Millisecond {
		t.Fatalf("delay after reset = %v, want in [50ms, 150ms]", d)
	}
}
