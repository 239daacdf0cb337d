package pii

import (
	"encoding/base64"
	"strings"
	"testing"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
}

func TestSealOpenAndRotate(t *testing.T) {
	old, err := ParseKeys("k1=" + key('a'))
	if err != nil {
		t.Fatal(err)
	}
	sealed := old.Seal("990101197803152319")
	if !strings.HasPrefix(sealed, "k1:") || strings.Contains(sealed, "990101197803152319") {
		t.Fatalf("sealed = %q", sealed)
	}
	if again := old.Seal("990101197803152319"); again == sealed {
		t.Error("two seals of the same text are equal: the nonce is not random")
	}
	// After rotation, new seals use k2 and old ones still open.
	rotated, err := ParseKeys("k1=" + key('a') + ", k2=" + key('b'))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealed); err != nil || got != "990101197803152319" {
		t.Errorf("open an old seal after rotation: %q, %v", got, err)
	}
	if s := rotated.Seal("x"); !strings.HasPrefix(s, "k2:") {
		t.Errorf("rotated seal %q does not use k2", s)
	}
	// Damage, a missing key, or a key id swapped are refused.
	without, _ := ParseKeys("k2=" + key('b'))
	for _, bad := range []string{sealed[:len(sealed)-2] + "AA", "k9:" + sealed[3:], "nonsense", "", "k2:" + sealed[3:]} {
		if _, err := rotated.Open(bad); err != ErrCannotOpen {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	if _, err := without.Open(sealed); err != ErrCannotOpen {
		t.Errorf("open without the key: %v", err)
	}
}

func TestParseKeysRefuses(t *testing.T) {
	for spec, want := range map[string]string{
		"":                             "none given",
		"k1":                           "write each as id=base64key",
		"bad id=" + key('a'):           "write each as id=base64key",
		"k1=short":                     "must be 32 bytes",
		"k1=" + key('a')[:20]:          "must be 32 bytes",
		"k1=" + key('a') + ",k2=!!!!!": "data key k2",
	} {
		_, err := ParseKeys(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeys(%q) = %v, want %q", spec, err, want)
		}
		if err != nil && strings.Contains(err.Error(), key('a')) {
			t.Errorf("the error repeats the key")
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"110105194912310021": "110***********0021",
		"11010519491231002X": "110***********002X",
		"13900001234":        "139****1234",
		"1234567":            "*******",
		"":                   "",
	} {
		got := MaskIDNumber(in)
		if got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
}
