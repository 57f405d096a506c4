package token

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// VerifyExpiry is Verify that also returns when tok expires: the zero
// time for a token without expiry. A long-lived stream uses it to end
// itself when its token does.
func VerifyExpiry(secret []byte, tok string, now time.Time) (string, time.Time, error) {
	user, err := Verify(secret, tok, now)
	if err != nil {
		return "", time.Time{}, err
	}
	var c claims
	// The signature was checked by Verify; this only reads the claims.
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil || c.ExpiresAt == nil {
		return user, time.Time{}, nil
	}
	return user, c.ExpiresAt.Time, nil
}
