package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	// ErrInvalid is returned for a token that is malformed, wrongly
	// signed, uses another algorithm, or names no user.
	ErrInvalid = errors.New("token: invalid")
	// ErrExpired is returned for a well-signed token past its expiry.
	ErrExpired = errors.New("token: expired")
	// ErrNoSecret is returned when the secret is empty.
	ErrNoSecret = errors.New("token: empty secret")
)

// DefaultLeeway is the clock skew Verify allows between the issuer and the
// verifier: a token is accepted up to this long past its exp, and its nbf
// and iat may be up to this far in the future.
const DefaultLeeway = 5 * time.Second

type claims struct {
	UserID string `json:"user_id"`
	jwt.RegisteredClaims
}

// Issue returns a token for userID, signed with secret, valid for ttl (no
// expiry when ttl <= 0).
func Issue(secret []byte, userID string, ttl time.Duration) (string, error) {
	return IssueAt(secret, userID, ttl, time.Now())
}

// IssueAt is Issue with the issue time given, for tests.
func IssueAt(secret []byte, userID string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	if userID == "" {
		return "", fmt.Errorf("%w: no user id", ErrInvalid)
	}
	c := claims{UserID: userID, RegisteredClaims: jwt.RegisteredClaims{Subject: userID, IssuedAt: jwt.NewNumericDate(now)}}
	if ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// Verify checks tok's signature and times at now, with DefaultLeeway, and
// returns the user it names. It returns an error wrapping ErrExpired or
// ErrInvalid.
func Verify(secret []byte, tok string, now time.Time) (string, error) {
	return VerifyLeeway(secret, tok, now, DefaultLeeway)
}

// VerifyLeeway is Verify with the allowed clock skew given: a token past
// its exp by more than leeway is expired (ErrExpired); one whose nbf
// (not before) or iat (issued at) is more than leeway after now is
// invalid (ErrInvalid). A negative leeway counts as zero.
func VerifyLeeway(secret []byte, tok string, now time.Time, leeway time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(max(leeway, 0)))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", fmt.Errorf("%w: %v", ErrExpired, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "", fmt.Errorf("%w: not valid yet: %v", ErrInvalid, err)
	case err != nil:
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	user := c.UserID
	if user == "" {
		user = c.Subject
	}
	if user == "" {
		return "", fmt.Errorf("%w: names no user", ErrInvalid)
	}
	return user, nil
}
