package signals

import (
	"errors"
	"time"
)

// checkIDNumber verifies an 18-character resident ID number (居民身份证号码)
// by GB 11643-1999: 17 digits, of which 7-14 are a real birth date, then an
// ISO 7064 MOD 11-2 check character (0-9 or X). Its errors never repeat the
// number, so they are safe to log and to return to clients.
func checkIDNumber(id string) error {
	if len(id) != 18 {
		return errors.New("must be 18 characters")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return errors.New("the first 17 characters must be digits")
		}
		sum += int(c-'0') * idWeights[i]
	}
	if _, err := time.Parse("20060102", id[6:14]); err != nil {
		return errors.New("characters 7-14 are not a valid birth date")
	}
	want := "10X98765432"[sum%11]
	got := id[17]
	if got == 'x' {
		got = 'X'
	}
	if got != want {
		return errors.New("check digit is wrong (GB 11643): please re-check the number")
	}
	return nil
}

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
