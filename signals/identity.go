package signals

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// Pseudonymizer turns a person's identity into a stable reference with a keyed
// hash (HMAC-SHA256), so that ID numbers and phone numbers are never stored,
// logged or used in key names. The same identity under the same key always
// gives the same reference; without the key it cannot be reversed or guessed.
type Pseudonymizer struct {
	key []byte
}

// NewPseudonymizer returns a Pseudonymizer for a secret key of at least 16 bytes.
func NewPseudonymizer(key []byte) (*Pseudonymizer, error) {
	if len(key) < 16 {
		return nil, errors.New("personal-data key must be at least 16 bytes")
	}
	return &Pseudonymizer{key: append([]byte(nil), key...)}, nil
}

// PersonRef returns the reference of a person known by resident ID number:
// "P" and 24 hex digits.
func (p *Pseudonymizer) PersonRef(idNumber string) string {
	return "P" + p.sum("id:"+strings.ToUpper(idNumber))
}

// WeakRef returns the reference of a person known only by name and phone, a
// weaker identity: "W" and 24 hex digits.
func (p *Pseudonymizer) WeakRef(name, phone string) string {
	return "W" + p.sum("weak:"+strings.TrimSpace(name)+"\x00"+normalizePhone(phone))
}

func (p *Pseudonymizer) sum(s string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// normalizePhone keeps only digits and drops China's country code before a
// mobile number, so "+86 139-0000-1234", "0086 13900001234" and
// "13900001234" name the same person.
func normalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	switch {
	case len(d) == 13 && strings.HasPrefix(d, "861"):
		return d[2:]
	case len(d) == 15 && strings.HasPrefix(d, "00861"):
		return d[4:]
	}
	return d
}
