// Package pii protects personal identifiers that must be read back: it
// encrypts them with AES-256-GCM under a named key, so that keys can rotate
// (old ciphertexts name the key that sealed them), and it masks them for
// display. Identifiers that are only matched are keyed-hashed elsewhere
// (signals.Pseudonymizer) and never stored at all.
package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Sealer encrypts and decrypts with a set of named keys; it seals with the
// current one and opens with whichever a ciphertext names.
type Sealer struct {
	current string
	aeads   map[string]cipher.AEAD
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// ParseKeys reads keys written as "id=base64,id=base64…"; the last is the
// current key. Each key is 32 bytes (AES-256) encoded in standard base64.
func ParseKeys(spec string) (*Sealer, error) {
	s := &Sealer{aeads: map[string]cipher.AEAD{}}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, "=")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, errors.New("data keys: write each as id=base64key, ids of letters, digits, _ and -")
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("data key %s: must be 32 bytes in base64 (e.g. openssl rand -base64 32)", id)
		}
		if err := s.add(id, key); err != nil {
			return nil, err
		}
	}
	if s.current == "" {
		return nil, errors.New("data keys: none given")
	}
	return s, nil
}

// NewRandom returns a Sealer with one random key, for the embedded demo
// store, whose data does not outlive the process anyway.
func NewRandom() *Sealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &Sealer{aeads: map[string]cipher.AEAD{}}
	_ = s.add("demo", key)
	return s
}

func (s *Sealer) add(id string, key []byte) error {
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	s.aeads[id] = aead
	s.current = id
	return nil
}

// Seal encrypts plaintext under the current key as "keyid:base64".
func (s *Sealer) Seal(plaintext string) string {
	aead := s.aeads[s.current]
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	ct := aead.Seal(nonce, nonce, []byte(plaintext), []byte(s.current))
	return s.current + ":" + base64.RawStdEncoding.EncodeToString(ct)
}

// ErrCannotOpen means a ciphertext is damaged or sealed under a key this
// Sealer does not hold. It never carries the ciphertext.
var ErrCannotOpen = errors.New("cannot decrypt: damaged, or sealed under a key not configured")

// Open decrypts what Seal produced, under whichever key it names.
func (s *Sealer) Open(sealed string) (string, error) {
	id, b64, ok := strings.Cut(sealed, ":")
	aead := s.aeads[id]
	if !ok || aead == nil {
		return "", ErrCannotOpen
	}
	ct, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(ct) < aead.NonceSize() {
		return "", ErrCannotOpen
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", ErrCannotOpen
	}
	return string(pt), nil
}

// MaskIDNumber keeps an ID number's first 3 and last 4 characters:
// "110105194912310021" → "110***********0021".
func MaskIDNumber(s string) string { return mask(s, 3, 4) }

// MaskPhone keeps a phone number's first 3 and last 4 digits:
// "13900001234" → "139****1234".
func MaskPhone(s string) string { return mask(s, 3, 4) }

func mask(s string, head, tail int) string {
	n := utf8.RuneCountInString(s)
	if n <= head+tail {
		return strings.Repeat("*", n)
	}
	r := []rune(s)
	return string(r[:head]) + strings.Repeat("*", n-head-tail) + string(r[n-tail:])
}
